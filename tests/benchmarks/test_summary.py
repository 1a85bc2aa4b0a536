import json

import models
from benchmarks import summary
from reporting.sections import section_markers, write_sections


def _result(rate, precision="float32", shape=(28, 28, 1), augment_on="dataset"):
    return {
        "images_per_second": rate,
        "precision": precision,
        "input_shape": list(shape),
        "augment_on": augment_on,
        "achieved_gflops": rate * 0.5,
        "utilisation": 0.25,
    }


def test_tables_are_generated_from_the_records(tmp_path):
    bench = tmp_path / "results" / "benchmarks"
    bench.mkdir(parents=True)
    record = {
        "model": "wrn-16-4",
        "system": {"machine": {"key": "machine A family 25"}},
        "approaches": {
            "project": _result(120.0, "mixed_bfloat16"),
            "legacy": _result(20.0, shape=(56, 56, 3), augment_on=None),
            "legacy_native": _result(80.0, augment_on=None),
        },
    }
    (bench / "throughput-wrn-16-4-mixed_bfloat16.json").write_text(json.dumps(record))
    # Another machine's record: its rate is never held against the peak measured above.
    elsewhere = {**record, "system": {"cpu": "AMD EPYC, 2 cores"}}
    (bench / "throughput-wrn-16-4-elsewhere.json").write_text(json.dumps(elsewhere))
    # The measured peak of machine A: 240 GFLOP/s in bfloat16, so 60 GFLOP/s are 25% of it.
    peak = {"command": "python -m benchmarks.matmul_peak",
            "system": {"machine": {"key": "machine A family 25"}},
            "dtypes": {"bfloat16": {"best_gflops": 240.0}, "float32": {"best_gflops": 120.0}}}
    (bench / "matmul-peak.json").write_text(json.dumps(peak))
    curve = {
        "model": "simple-cnn",
        "config": {"optimizer": "adam", "lr": 0.001, "lr_schedule": "constant",
                   "precision": "mixed_bfloat16"},
        "reached": False,
        "target_val_accuracy": 0.92,
        "best_val_accuracy": 0.9123,
        "train_images_per_second": 1234.5,
    }  # fmt: skip
    (bench / "time-to-accuracy-simple-cnn.json").write_text(json.dumps(curve))
    page = tmp_path / summary.BENCHMARKS_PAGE
    page.parent.mkdir()
    start, end = section_markers(summary.BENCHMARKS)
    page.write_text(f"a\n{start}\nstale\n{end}\nb\n")

    sections = [s for s in summary.generated_sections(tmp_path / "results")
                if s.name == summary.BENCHMARKS]
    assert write_sections(sections, tmp_path) == [page]
    lines = page.read_text().splitlines()
    assert "stale" not in lines and lines[-1] == "b"
    project, other = (next(line for line in lines if "| this project |" in line and name in line)
                      for name in ("mixed_bfloat16.json", "elsewhere.json"))
    # 120 images/s: 6x the upscaled old pipeline, 1.5x the old pipeline at 28x28x1.
    assert "| 120 | 6.00x | 1.50x | 60 | 25% | machine A family 25 |" in project
    assert "| 60 | - | AMD EPYC, 2 cores (family not recorded) |" in other
    assert any("On machine A family 25, large matrix products" in line for line in lines)
    assert "[throughput-wrn-16-4-mixed_bfloat16](../results/benchmarks/" in project
    upscaled = next(line for line in lines if "| 56x56x3 |" in line)
    assert "| ImageDataGenerator |" in upscaled and "| 1.00x | 0.25x |" in upscaled
    timing = next(line for line in lines if line.startswith("| simple-cnn |"))
    assert "| adam 0.001, constant |" in timing and "| not reached |" in timing
    assert "| 0.9123 | 1,234 |" in timing
    # The time-to-accuracy record names no machine; the throughput records name two.
    assert lines.count("Measured on a machine it does not name.") == 1
    assert any("times compare only within one machine" in line for line in lines)


def test_a_benchmark_table_names_the_machine_of_each_record(tmp_path):
    bench = tmp_path / "benchmarks"
    (bench / "long-windows").mkdir(parents=True)
    for path, cpu in (("throughput-a.json", "AMD EPYC (family 26, model 2), 2 cores"),
                      ("long-windows/throughput-b.json", None)):
        system = {"cpu": cpu} if cpu else {"hardware": "AMD EPYC, 2 cores"}
        (bench / path).write_text(json.dumps({"system": system}))

    assert summary.records_machines(bench, "throughput-*.json") == (
        "Measured on AMD EPYC (family 26, model 2), 2 cores (`throughput-a`) and on AMD EPYC, "
        "2 cores (`long-windows/throughput-b`): times compare only within one machine."
    )
    assert summary.records_machines(bench, "race-*.json") is None


def test_the_model_table_counts_parameters_and_reads_flops_from_the_records(tmp_path, monkeypatch):
    monkeypatch.setattr(models, "list_models", lambda: ["simple-cnn", "simple-cnn-bn"])
    bench = tmp_path / "benchmarks"
    bench.mkdir()
    project = {**_result(100.0), "flops_per_image_train": 236_727_564}
    upscaled = {**_result(25.0, shape=(56, 56, 3)), "flops_per_image_train": 999_000_000}
    record = {"model": "simple-cnn", "approaches": {"legacy": upscaled, "project": project}}
    (bench / "throughput-simple-cnn-float32.json").write_text(json.dumps(record))

    lines = summary.models_table(bench, tmp_path).splitlines()
    assert lines[0] == (
        "| Registry name | Class | Parameters | Training MFLOP per image | FLOPs record |"
    )
    # The 28x28x1 count, not the upscaled copy's; a model without a record has none.
    assert lines[2] == (
        "| simple-cnn | SimpleCNN | 749,026 | 237 | "
        "[throughput-simple-cnn-float32](benchmarks/throughput-simple-cnn-float32.json) |"
    )
    assert lines[3] == "| simple-cnn-bn | SimpleCNN | 749,794 | - | - |"


def test_records_in_subfolders_are_listed_after_the_top_level_ones(tmp_path):
    bench = tmp_path / "benchmarks"
    (bench / "long-windows").mkdir(parents=True)
    for folder, rate in ((bench, 100.0), (bench / "long-windows", 120.0)):
        record = {"model": "mobilenet-v2", "approaches": {"project": _result(rate)}}
        (folder / "throughput-mobilenet-v2-float32.json").write_text(json.dumps(record))
    lines = summary.throughput_table(bench, tmp_path).splitlines()[2:]
    assert "| 100 |" in lines[0] and "[throughput-mobilenet-v2-float32](" in lines[0]
    assert "| 120 |" in lines[1]
    assert "[long-windows/throughput-mobilenet-v2-float32](benchmarks/long-windows/" in lines[1]


def test_ratios_at_28px_need_an_old_pipeline_at_28px(tmp_path):
    bench = tmp_path / "benchmarks"
    bench.mkdir()
    record = {  # an older record: no augment_on field, only the upscaled old pipeline
        "model": "mobilenet-v2",
        "approaches": {
            "project": {**_result(100.0), "augment_on": None},
            "legacy": _result(25.0, shape=(56, 56, 3), augment_on=None),
        },
    }
    (bench / "throughput-mobilenet-v2-mixed_bfloat16.json").write_text(json.dumps(record))
    project = summary.throughput_table(bench, tmp_path).splitlines()[2]
    assert "| this project | tf.data map |" in project and "| 100 | 4.00x | - |" in project
