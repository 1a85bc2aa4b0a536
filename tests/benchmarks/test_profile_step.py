import json

import keras
import pytest

from benchmarks import profile_step, summary
from benchmarks.profile_step import breakdown, category_of, datatable_rows, model_scopes


@pytest.mark.parametrize(
    ("op_type", "category"),
    [
        ("Conv2D", "convolution"),
        ("Conv2DBackpropFilter", "convolution"),
        ("_MklNativeConv2DBackpropInput", "convolution"),
        ("_MklNativeFusedConv2D", "convolution"),
        ("DepthwiseConv2dNativeBackpropFilter", "convolution"),
        ("FusedBatchNormV3", "batchnorm"),
        ("FusedBatchNormGradV3", "batchnorm"),
        ("_MklMatMul", "matmul"),
        ("_MklNativeFusedMatMul", "matmul"),
        ("Relu", "elementwise"),
        ("ReluGrad", "elementwise"),
        ("Cast", "elementwise"),
        ("AddV2", "elementwise"),
        ("_MklNativeMaxPoolGrad", "pooling"),
        ("ImageProjectiveTransformV3", "augmentation"),
        ("StatelessRandomUniformV2", "augmentation"),
        ("ResourceApplyAdam", "optimizer"),
        ("AssignVariableOp", "optimizer"),
        ("IteratorGetNext", "input"),
        ("Dataset", "input"),
        ("RewriteDataset", "input"),
        ("ExpandDims", "other"),
        ("SomeOpNobodyKnows", "other"),
    ],
)
def test_op_types_map_to_their_categories(op_type, category):
    assert category_of(op_type) == category


def test_a_scope_decides_before_the_type():
    # Keras 3 computes BatchNorm, Adam and the augmentation with element-wise ops.
    assert category_of("Mul", "StatefulPartitionedCall/adam/Mul_3") == "optimizer"
    name = "StatefulPartitionedCall/gradient_tape/model_1/batch_normalization_2/moments/Mul"
    assert category_of("Mul", name) == "batchnorm"
    name = "StatefulPartitionedCall/augmentation/random_shift/GatherV2"
    assert category_of("GatherV2", name) == "augmentation"
    # A layer's own name counts only with its scopes; the op's own name is not a scope.
    assert category_of("Mul", "f/model_1/stem_bn_1/mul") == "elementwise"
    assert category_of("Mul", "f/model_1/stem_bn_1/mul", {"stem_bn": "batchnorm"}) == "batchnorm"
    assert category_of("Mul", "f/model_1/adam") == "elementwise"


def test_the_scopes_of_a_model_name_its_batchnorm_pooling_and_optimizer():
    model = keras.Sequential([
        keras.Input((8, 8, 1)),
        keras.layers.Conv2D(2, 3, name="stem"),
        keras.layers.BatchNormalization(name="stem_bn"),
        keras.layers.MaxPooling2D(name="pool_a"),
        keras.layers.GlobalAveragePooling2D(name="head_pool"),
    ])  # fmt: skip
    model.compile(optimizer=keras.optimizers.SGD(name="my_sgd"), loss="mse")
    scopes = model_scopes(model)
    assert scopes["stem_bn"] == "batchnorm" and scopes["my_sgd"] == "optimizer"
    assert scopes["pool_a"] == scopes["head_pool"] == "pooling"
    assert "stem" not in scopes


def _row(op_type, name, self_us, occurrences=1, where="Host"):
    return {"host_or_device": where, "type": op_type, "operation": name,
            "occurrences": occurrences, "total_self_time": self_us}  # fmt: skip


def test_the_breakdown_sums_self_time_per_category_and_step():
    rows = [
        _row("IDLE", "IDLE", 9e9),
        _row("_MklNativeConv2DBackpropFilter", "f/m/conv/Conv2DBackpropFilter", 30_000, 10),
        _row("_MklNativeConv2D", "f/m/conv/convolution", 10_000, 10),
        _row("Mul", "f/m/bn_1/batchnorm/mul", 8_000, 20),
        _row("Mul", "f/adam/Mul_1", 2_000, 30),
        _row("Dataset", "Iterator::Root::Prefetch", 1_000, 40),
        _row("Weird", "f/weird", 1_000, 10),
    ]
    result = breakdown(rows, steps=10, wall_seconds_per_step=0.01, scopes={"bn": "batchnorm"})
    categories = result["categories"]
    assert result["measured_on"] == "host"
    assert categories["convolution"]["seconds_per_step"] == pytest.approx(0.004)
    assert categories["convolution"]["share_of_step"] == pytest.approx(0.4)
    assert categories["convolution"]["share_of_op_time"] == pytest.approx(40 / 52, abs=1e-4)
    assert categories["batchnorm"]["seconds_per_step"] == pytest.approx(0.0008)
    assert categories["optimizer"]["seconds_per_step"] == pytest.approx(0.0002)
    assert categories["input"]["seconds_per_step"] == pytest.approx(0.0001)
    assert categories["other"]["seconds_per_step"] == pytest.approx(0.0001)
    assert categories["pooling"]["seconds_per_step"] == 0.0
    shares = [entry["share_of_op_time"] for entry in categories.values()]
    assert sum(shares) == pytest.approx(1, abs=1e-3)
    assert result["op_seconds_per_step"] == pytest.approx(0.0052)
    assert result["unexplained_seconds_per_step"] == pytest.approx(0.0048)
    assert result["unexplained_share"] == pytest.approx(0.48)
    top = result["top_op_types"]
    assert [(entry["op_type"], entry["category"]) for entry in top[:3]] == [
        ("_MklNativeConv2DBackpropFilter", "convolution"),
        ("_MklNativeConv2D", "convolution"),
        ("Mul", "batchnorm"),
    ]
    assert top[2]["occurrences_per_step"] == 2.0 and len(top) == 6
    # With an accelerator's rows, those alone count.
    device = breakdown([*rows, _row("Conv2D", "f/m/conv/Conv2D", 5_000, where="Device")], 10, 0.01)
    assert device["measured_on"] == "device"
    assert device["op_seconds_per_step"] == pytest.approx(0.0005)
    with pytest.raises(ValueError, match="Received: steps=0"):
        breakdown(rows, steps=0, wall_seconds_per_step=0.01)


def test_the_profiler_tables_are_read_from_google_datatable_json():
    table = {
        "cols": [{"id": "type", "label": "Operation Type", "type": "string"},
                 {"id": "total_self_time", "label": "Total self-time (us)", "type": "number"}],
        "rows": [{"c": [{"v": "Conv2D"}, {"v": 12.5}]}, {"c": [{"v": "Mul"}, None]}],
    }  # fmt: skip
    expected = [
        {"type": "Conv2D", "total_self_time": 12.5}, {"type": "Mul", "total_self_time": None}
    ]  # fmt: skip
    assert datatable_rows(json.dumps([table, {"cols": [], "rows": []}])) == expected
    assert datatable_rows(json.dumps(table).encode()) == expected


def _categories(**seconds):
    wall = 0.1
    total = sum(seconds.values())
    return {
        name: {"label": label, "seconds_per_step": seconds.get(name, 0.0),
               "share_of_step": seconds.get(name, 0.0) / wall,
               "share_of_op_time": seconds.get(name, 0.0) / total}
        for name, label in profile_step.CATEGORIES.items()
    }  # fmt: skip


def _profile_record(date="2026-12-05T10:00:00+00:00", precision="mixed_bfloat16", op=0.09):
    return {
        "command": "python -m benchmarks.profile_step --preset default", "date": date,
        "system": {"hardware": "AMD EPYC, 2 cores"}, "preset": "default",
        "model": "fast-cnn-small", "precision": precision, "batch_size": 128, "cores": 2,
        "warmup_steps": 10, "profiled_steps": 50,
        "categories": _categories(convolution=0.06, batchnorm=0.02, optimizer=0.01),
        "op_seconds_per_step": op, "unexplained_seconds_per_step": 0.1 - op,
        "unexplained_share": (0.1 - op) / 0.1, "wall_seconds_per_step": 0.1,
        "images_per_second": 1850.4,
        "flops": {"achieved_gflops": 177.1, "utilisation": 0.2666, "peak": {"rate": "bf16"}},
    }  # fmt: skip


def test_the_profile_table_shows_each_category_per_step(tmp_path):
    bench = tmp_path / "results" / "benchmarks"
    bench.mkdir(parents=True)
    older = _profile_record("2026-12-01T10:00:00+00:00", "float32", op=0.12)
    (bench / "profile-fast-cnn-small-float32.json").write_text(json.dumps(older))
    newer = _profile_record()
    (bench / "profile-fast-cnn-small-mixed_bfloat16.json").write_text(json.dumps(newer))

    text = summary.profile_markdown(bench, tmp_path / "docs")
    newest, oldest = text.split("\n\n| Ops |")
    lines = newest.splitlines()
    assert lines[0] == "| Ops | ms per step | Share of the step | Share of op time |"
    assert lines[2] == "| Convolutions (forward and backward) | 60.0 | 60.0% | 66.7% |"
    assert lines[3] == "| BatchNorm (forward and backward) | 20.0 | 20.0% | 22.2% |"
    assert "| Pooling | 0.0 | 0.0% | 0.0% |" in lines
    assert lines[-4] == "| Not in op time (Python, framework) | 10.0 | 10.0% | - |"
    assert lines[-3] == "| Step (wall clock, profiled) | 100.0 | 100.0% | - |"
    assert lines[-1] == (
        "50 steps of the `default` preset (`fast-cnn-small`, mixed_bfloat16, batch 128) "
        "profiled after 10 warm-up steps on AMD EPYC, 2 cores (family not recorded), with "
        "`python -m benchmarks.profile_step --preset default` "
        "([profile-fast-cnn-small-mixed_bfloat16]"
        "(../results/benchmarks/profile-fast-cnn-small-mixed_bfloat16.json)): 100.0 ms per step "
        "under the profiler, 1,850 images/s without it, 177 GFLOP/s."
    )
    # With its machine's measured peak, the rate is told as a share of it.
    measured = {**newer, "system": {"machine": {"key": "machine A"},
                                    "peak": {"gflops": {"bfloat16": 354.2}}}}
    (bench / "profile-fast-cnn-small-mixed_bfloat16.json").write_text(json.dumps(measured))
    assert ("177 GFLOP/s, 50% of the machine's measured bfloat16 peak."
            in summary.profile_markdown(bench, tmp_path / "docs"))
    # More op time than wall time: the ops of the two cores overlapped, and the text says so.
    assert "| Not in op time (Python, framework) | -20.0 | -20.0% | - |" in oldest
    assert oldest.endswith("so the shares add up past 100% and the time not in ops is negative.")

    empty = summary.profile_markdown(tmp_path / "nothing", tmp_path)
    assert empty == (
        "No profile record yet: run `python -m benchmarks.profile_step --preset default`."
    )
    section = next(s for s in summary.generated_sections(tmp_path / "results")
                   if s.name == summary.PROFILE)  # fmt: skip
    assert section.path == summary.BENCHMARKS_PAGE


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["--steps", "0"], "--steps"),
        (["--warmup", "0"], "--warmup"),
        (["--preset", "no-such-preset"], "--preset"),
        (["--precision", "float64"], "--precision"),
        (["--limit-train", "-5"], "--limit-train"),
        (["--set", "schedule.epochs=2"], "--variant"),
        (["--variant", "fused-bn"], "--variant"),
        (["--set", "schedule.epochs=2", "--variant", "../up"], "--variant"),
    ],
)
def test_a_bad_value_exits_2_naming_its_flag_and_writes_nothing(argv, flag, tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        profile_step.main([*argv, "--out", str(tmp_path)])
    assert stopped.value.code == 2
    assert f"argument {flag}" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


@pytest.mark.slow  # builds the default model and profiles a few steps
def test_a_profile_of_the_default_preset_writes_its_record(tmp_path, fashion_mnist):
    argv = ["--steps", "5", "--warmup", "2", "--limit-train", "512", "--out", str(tmp_path)]
    assert profile_step.main(argv, data=fashion_mnist) == 0

    records = list(tmp_path.glob("profile-*.json"))
    assert [path.name for path in records] == ["profile-fast-cnn-small-mixed_bfloat16.json"]
    record = json.loads(records[0].read_text())
    assert record["command"] == "python -m benchmarks.profile_step " + " ".join(argv)
    assert record["preset"] == "default" and record["profiled_steps"] == 5
    assert record["batch_size"] == 128 and record["augment_on"] == "model"
    assert record["system"]["packages"]["tensorflow"]
    categories = record["categories"]
    assert list(categories) == list(profile_step.CATEGORIES)
    for entry in categories.values():
        assert 0 <= entry["share_of_op_time"] <= 1 and entry["share_of_step"] >= 0
    assert sum(entry["share_of_op_time"] for entry in categories.values()) == pytest.approx(
        1, abs=1e-3
    )
    for name in ("convolution", "batchnorm", "augmentation", "optimizer", "input"):
        assert categories[name]["seconds_per_step"] > 0, name
    assert categories["convolution"]["share_of_op_time"] > categories["other"]["share_of_op_time"]
    assert 0 < len(record["top_op_types"]) <= profile_step.TOP_OP_TYPES
    assert record["wall_seconds_per_step"] > 0 and record["images_per_second"] > 0
    assert record["op_seconds_per_step"] == pytest.approx(
        record["wall_seconds_per_step"] - record["unexplained_seconds_per_step"], abs=1e-5
    )
    assert record["flops"]["flops_per_image_train"] > 0 and record["flops"]["achieved_gflops"] > 0


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model.args={fused = true}", "fused is not an argument of FastCNN"),
        ("schedule.epochs=0", "schedule.epochs must be >= 1"),
        ("schedule.epoch=3", "Unknown key 'schedule.epoch'"),
    ],
)
def test_a_bad_override_is_refused_naming_its_key(override, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        profile_step.main(["--set", override, "--variant", "x", "--out", str(tmp_path)])
    assert stopped.value.code == 2
    assert message in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
