import pytest

from training import hardware
from training.config import ExperimentConfig, scaled_learning_rate


@pytest.fixture
def bf16_cpu(monkeypatch):
    monkeypatch.setattr(hardware, "gpus", lambda: [])
    monkeypatch.setattr(hardware, "cpu_has_native_bf16", lambda: True)


@pytest.fixture
def two_gpus(monkeypatch):
    monkeypatch.setattr(hardware, "gpus", lambda: ["GPU:0", "GPU:1"])
    monkeypatch.setattr(hardware, "gpu_supports_bf16", lambda: True)


@pytest.mark.parametrize(
    ("model", "precision"),
    [
        ("simple-cnn", "mixed_bfloat16"),
        ("wrn-16-4", "mixed_bfloat16"),
        ("mobilenet-v2-0.5", "float32"),
        ("shufflenet-v2-1.0", "float32"),
    ],
)
def test_auto_precision_keeps_depthwise_families_in_float32_on_a_bf16_cpu(
    model, precision, bf16_cpu
):
    assert ExperimentConfig(model=model).resolved().precision == precision
    assert ExperimentConfig(model=model, precision="mixed_bfloat16").resolved().precision == (
        "mixed_bfloat16"
    )


def test_auto_precision_follows_the_cpu_hint_only_on_a_bf16_cpu(bf16_cpu, monkeypatch):
    assert hardware.resolve_precision("auto") == "mixed_bfloat16"
    assert hardware.resolve_precision("auto", "float32") == "float32"
    monkeypatch.setattr(hardware, "cpu_has_native_bf16", lambda: False)
    assert hardware.resolve_precision("auto") == "float32"


def test_auto_precision_on_gpus_depends_on_their_bf16_support(two_gpus, monkeypatch):
    assert hardware.resolve_precision("auto", "float32") == "mixed_bfloat16"
    monkeypatch.setattr(hardware, "gpu_supports_bf16", lambda: False)
    assert hardware.resolve_precision("auto", "float32") == "mixed_float16"


def test_cpu_defaults_resolve_to_the_measured_choices(bf16_cpu):
    config = ExperimentConfig().resolved()
    assert config.augment_on == hardware.CPU_AUGMENT_ON
    # The default one-cycle schedule peaks at 3x the reference rate; SWA's rate is a tenth.
    assert (config.batch_size, config.lr) == (128, pytest.approx(3e-3))
    assert config.swa_lr == pytest.approx(3e-4)
    assert ExperimentConfig(lr_schedule="cosine").resolved().lr == pytest.approx(1e-3)
    assert config.jit_compile is False


def test_gpu_defaults_scale_the_batch_per_gpu_and_the_learning_rate(two_gpus):
    single = ExperimentConfig(lr_schedule="cosine").resolved()
    assert (single.augment_on, single.jit_compile, single.batch_size) == ("model", True, 512)
    assert single.lr == pytest.approx(2e-3)  # Adam: square root of the 4x batch
    assert ExperimentConfig().resolved().lr == pytest.approx(6e-3)  # one-cycle: 3x
    mirrored = ExperimentConfig(distribute="mirrored", optimizer="sgd", lr_schedule="cosine")
    assert mirrored.resolved().batch_size == 1024
    assert mirrored.resolved().lr == pytest.approx(8e-3)  # SGD: linear in the 8x batch


def test_explicit_values_are_never_rescaled(two_gpus):
    config = ExperimentConfig(batch_size=64, lr=0.05, augment_on="dataset").resolved()
    assert (config.batch_size, config.lr, config.augment_on) == (64, 0.05, "dataset")
    assert ExperimentConfig(batch_size=256, lr_schedule="swa").resolved().lr == pytest.approx(
        scaled_learning_rate("adam", 256)
    )


def test_scaling_rules():
    assert scaled_learning_rate("adam", 128) == pytest.approx(1e-3)
    assert scaled_learning_rate("rmsprop", 32) == pytest.approx(5e-4)
    assert scaled_learning_rate("sgd", 32) == pytest.approx(2.5e-4)
