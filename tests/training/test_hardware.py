import pytest

from training import hardware
from training.config import ExperimentConfig, resolve
from training.hardware import Hardware
from training.schedule_rules import scaled_learning_rate

BF16_CPU = Hardware(cpu_bf16=True)
TWO_GPUS = Hardware(gpus=2, gpu_bf16=True)


@pytest.fixture
def bf16_cpu(monkeypatch):
    """This process's hardware, as `ExperimentConfig.resolved()` probes it, is `BF16_CPU`."""
    monkeypatch.setattr(hardware, "probe_hardware", lambda: BF16_CPU)


@pytest.fixture
def two_gpus(monkeypatch):
    monkeypatch.setattr(hardware, "probe_hardware", lambda: TWO_GPUS)


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
    assert ExperimentConfig().replace(model=model).resolved().runtime.precision == precision
    asked = ExperimentConfig().replace(model=model, precision="mixed_bfloat16")
    assert asked.resolved().runtime.precision == (
        "mixed_bfloat16"
    )


def test_auto_precision_follows_the_cpu_hint_only_on_a_bf16_cpu():
    assert hardware.resolve_precision("auto", None, BF16_CPU) == "mixed_bfloat16"
    assert hardware.resolve_precision("auto", "float32", BF16_CPU) == "float32"
    assert hardware.resolve_precision("auto", None, Hardware()) == "float32"


def test_auto_precision_on_gpus_depends_on_their_bf16_support():
    assert hardware.resolve_precision("auto", "float32", TWO_GPUS) == "mixed_bfloat16"
    older = Hardware(gpus=2, gpu_bf16=False)
    assert hardware.resolve_precision("auto", "float32", older) == "mixed_float16"


def test_resolving_is_pure_and_a_resolved_configuration_resolves_to_itself():
    config = ExperimentConfig().replace(epochs=12, lr_schedule="onecycle")
    on_cpu, on_gpus = resolve(config, BF16_CPU), resolve(config, TWO_GPUS)
    assert on_cpu == resolve(config, BF16_CPU) and config == ExperimentConfig().replace(
        epochs=12, lr_schedule="onecycle")
    assert resolve(on_cpu, BF16_CPU) == on_cpu and resolve(on_gpus, TWO_GPUS) == on_gpus
    assert (on_cpu.runtime.batch_size, on_gpus.runtime.batch_size) == (128, 512)
    # The one-cycle schedule's warm-up.
    assert on_cpu.schedule.warmup_epochs == pytest.approx(12 / 5)


def test_cpu_defaults_resolve_to_the_measured_choices(bf16_cpu):
    config = ExperimentConfig().resolved()
    assert config.runtime.augment_on == hardware.CPU_AUGMENT_ON
    # The default one-cycle schedule peaks at 3x the reference rate; SWA's rate is a tenth.
    assert (config.runtime.batch_size, config.optimizer.lr) == (128, pytest.approx(3e-3))
    assert config.averaging.swa_lr == pytest.approx(3e-4)
    cosine = ExperimentConfig().replace(lr_schedule="cosine").resolved()
    assert cosine.optimizer.lr == pytest.approx(1e-3)
    assert config.runtime.jit_compile is False


def test_gpu_defaults_scale_the_batch_per_gpu_and_the_learning_rate(two_gpus):
    single = ExperimentConfig().replace(lr_schedule="cosine").resolved()
    runtime = single.runtime
    assert (runtime.augment_on, runtime.jit_compile, runtime.batch_size) == ("model", True, 512)
    assert single.optimizer.lr == pytest.approx(2e-3)  # Adam: square root of the 4x batch
    assert ExperimentConfig().resolved().optimizer.lr == pytest.approx(6e-3)  # one-cycle: 3x
    mirrored = ExperimentConfig().replace(distribute="mirrored", optimizer="sgd",
                                          lr_schedule="cosine")
    assert mirrored.resolved().runtime.batch_size == 1024
    assert mirrored.resolved().optimizer.lr == pytest.approx(8e-3)  # SGD: linear in the 8x batch


def test_explicit_values_are_never_rescaled(two_gpus):
    config = ExperimentConfig().replace(batch_size=64, lr=0.05, augment_on="dataset").resolved()
    assert (config.runtime.batch_size, config.optimizer.lr) == (64, 0.05)
    assert config.runtime.augment_on == "dataset"
    swa = ExperimentConfig().replace(batch_size=256, lr_schedule="swa").resolved()
    assert swa.optimizer.lr == pytest.approx(
        scaled_learning_rate("adam", 256)
    )


def test_scaling_rules():
    assert scaled_learning_rate("adam", 128) == pytest.approx(1e-3)
    assert scaled_learning_rate("rmsprop", 32) == pytest.approx(5e-4)
    assert scaled_learning_rate("sgd", 32) == pytest.approx(2.5e-4)
