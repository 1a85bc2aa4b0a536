import dataclasses
import json

import keras
import pytest

from benchmarks import throughput, time_to_accuracy
from benchmarks.flops import forward_flops_per_image, train_flops_per_image
from models import build_model, get_spec

RATE_FIELDS = ("flops_per_image_train", "achieved_gflops", "peak_gflops", "utilisation")


@pytest.mark.slow  # times three pipelines over some thirty training steps
def test_throughput_writes_a_record_for_both_approaches(tmp_path, fashion_mnist):
    argv = [
        "--model", "simple-cnn", "--steps", "4", "--windows", "2", "--warmup", "1",
        "--batch-size", "32", "--legacy-images", "256", "--precision", "mixed_bfloat16",
        "--augment-on", "dataset", "--no-jit-compile", "--out", str(tmp_path),
    ]  # fmt: skip
    policy_before = keras.mixed_precision.global_policy().name
    assert throughput.main(argv, data=fashion_mnist) == 0
    assert keras.mixed_precision.global_policy().name == policy_before

    record = json.loads((tmp_path / "throughput-simple-cnn-mixed_bfloat16.json").read_text())
    assert record["command"].startswith("python -m benchmarks.throughput --model simple-cnn")
    assert record["model"] == "simple-cnn" and record["batch_size"] == 32
    assert record["augment_on"] == record["approaches"]["project"]["augment_on"] == "dataset"
    assert record["params"] > 0 and record["system"]["packages"]["tensorflow"]
    assert set(record["approaches"]) == {"project", "project_float32", "legacy"}
    for result in record["approaches"].values():
        assert result["images_per_second"] > 0
        assert len(result["window_images_per_second"]) == 2
        assert all(result[field] is not None for field in RATE_FIELDS)
        assert 0 < result["utilisation"]
    peak = record["approaches"]["project"]["peak"]
    assert peak["dtype"] == "bfloat16" and peak["machine"] == record["system"]["machine"]["key"]
    assert record["approaches"]["project"]["load"]["own_cpu_seconds"] > 0
    assert record["approaches"]["legacy"]["precision"] == "float32"
    assert record["ratios"]["project_vs_legacy"] > 0
    assert record["ratios"]["project_float32_vs_legacy"] > 0


@pytest.mark.slow
def test_throughput_of_an_upscaled_family_also_times_the_legacy_pipeline_at_28px(
    tmp_path, fashion_mnist, monkeypatch
):
    # The simple CNN stands in for the upscaled families (WRN, MobileNetV2), to keep this fast.
    upscaled = dataclasses.replace(get_spec("simple-cnn"), legacy_input_shape=(56, 56, 3))
    monkeypatch.setattr(throughput, "get_spec", lambda name: upscaled)
    argv = [
        "--model", "simple-cnn", "--steps", "2", "--windows", "2", "--warmup", "1",
        "--batch-size", "16", "--legacy-images", "64", "--precision", "float32",
        "--augment-on", "model", "--no-jit-compile", "--out", str(tmp_path),
    ]  # fmt: skip
    assert throughput.main(argv, data=fashion_mnist) == 0

    path = tmp_path / "throughput-simple-cnn-float32-augment-in-model.json"
    record = json.loads(path.read_text())
    approaches = record["approaches"]
    assert set(approaches) == {"project", "legacy", "legacy_native"}
    assert record["augment_on"] == approaches["project"]["augment_on"] == "model"
    assert "inside the train step" in approaches["project"]["pipeline"]
    assert approaches["legacy"]["input_shape"] == [56, 56, 3]
    assert approaches["legacy_native"]["input_shape"] == [28, 28, 1]
    assert approaches["legacy_native"]["augment_on"] is None
    assert set(record["ratios"]) == {
        "project_vs_legacy", "project_vs_legacy_native"
    }  # fmt: skip


def test_time_to_accuracy_records_the_curve_up_to_the_target(tmp_path, fashion_mnist):
    argv = [
        "--model", "simple-cnn", "--target", "0.01",
        "--limit-train", "256", "--val-size", "200", "--batch-size", "64",
        "--eval-every-steps", "2", "--epochs", "1", "--out", str(tmp_path),
    ]  # fmt: skip
    assert time_to_accuracy.main(argv, data=fashion_mnist) == 0

    record = json.loads((tmp_path / "time-to-accuracy-simple-cnn.json").read_text())
    assert record["reached"] and record["stopped_by"] == "target"
    assert record["steps_to_target"] == 2 and len(record["curve"]) == 1
    assert 0 < record["train_seconds_to_target"] <= record["wall_seconds_to_target"]
    assert record["total_seconds_to_target"] > record["wall_seconds_to_target"]
    assert record["val_images"] == 200 and record["config"]["lr_schedule"] == "constant"


def test_flops_of_a_dense_layer_are_two_per_weight():
    model = keras.Sequential([keras.Input((100,)), keras.layers.Dense(10, use_bias=False)])
    assert forward_flops_per_image(model, (100,)) == 2 * 100 * 10
    assert train_flops_per_image(model, (100,)) == 3 * 2 * 100 * 10


def test_flops_of_the_simple_cnn_match_its_convolutions():
    # 5x5 convolutions 1->32 and 32->32 at 28x28, three 3x3 ones at 14x14, dense 3136->200.
    convolutions = 2 * (28 * 28 * 32 * 25 * (1 + 32) + 14 * 14 * 64 * 9 * (32 + 64 + 64))
    expected = convolutions + 2 * 3136 * 200
    flops = forward_flops_per_image(build_model("simple-cnn"), (28, 28, 1))
    assert expected <= flops <= 1.05 * expected


def test_a_throughput_variant_builds_the_model_with_its_arguments(tmp_path, fashion_mnist):
    argv = [
        "--model", "simple-cnn", "--steps", "2", "--windows", "1", "--warmup", "1",
        "--batch-size", "16", "--approaches", "project", "--precision", "float32",
        "--model-arg", "dense_units=8", "--variant", "narrow", "--out", str(tmp_path),
    ]  # fmt: skip
    assert throughput.main(argv, data=fashion_mnist) == 0
    (path,) = tmp_path.glob("throughput-simple-cnn-narrow-float32*.json")
    record = json.loads(path.read_text())
    assert (record["variant"], record["model_args"]) == ("narrow", {"dense_units": 8})
    assert record["params"] < build_model("simple-cnn").count_params()


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--model-arg", "dense_units=8"], "argument --variant: name the variant"),
        (["--variant", "narrow"], "argument --variant: name the variant"),
        (["--model-arg", "dense_units=8", "--variant", "../x"], "--variant must be"),
        (["--model-arg", "dense_units=wide", "--variant", "x"], "model_args.dense_units"),
    ],
)
def test_a_bad_throughput_variant_is_refused_naming_the_flag(flags, message, tmp_path, capsys):
    with pytest.raises(SystemExit):
        throughput.parse_args(["--model", "simple-cnn", "--out", str(tmp_path), *flags])
    assert message in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
