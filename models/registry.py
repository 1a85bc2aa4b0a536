"""Name -> model spec registry, in the manner of timm's `register_model` and `create_model`.

Each entry is a `ModelSpec`: its builder and the traits that the trainer, the benchmarks and the
tests ask about, so that no other part of the project knows a model by its name.
"""

import dataclasses
from collections.abc import Callable

import keras

# The dtype policies a spec's `cpu_precision` may name.
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")

_SPECS: dict[str, "ModelSpec"] = {}


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A registered model: its builder and its traits.

    Args:
        name: the registry name, kebab-case, e.g. `"wrn-16-4"`.
        builder: `fn(input_shape, num_classes, **kwargs)` that returns a fresh, uncompiled model.
        family: the family's name, shared by the entries of one model file (one model class).
        parameters: the default model's parameter count at 28x28x1 with 10 classes, so that
            `parameter_count` answers without building it.
        own_loss: the model's `train_step` computes its own loss, which the trainer's loss
            settings (label smoothing) do not reach.
        cpu_precision: the dtype policy that `--precision auto` picks on a CPU with bfloat16
            instructions, where it was measured faster than mixed_bfloat16 (float32 for the
            depthwise convolutions); None: mixed_bfloat16.
        batchnorm_epsilon: the epsilon of every BatchNorm layer (its reference's); None for a
            model without BatchNorm.
        small_variant: constructor arguments, over the default model's config, of a tiny model
            of the same family for the tests: they shrink it but keep what tells the entries
            apart, and turn dropout off so that a training step's loss depends on the weights
            alone.
        legacy_input_shape: the shape the old repository fed this model (it upscaled the images
            for some families), for the legacy pipeline of `benchmarks.throughput`; None: the
            images' own 28x28x1.
        reconstructs: the model decodes images with `reconstruct(images)`, and its runs draw
            `reconstructions.png`.

    Example:
        >>> spec = get_spec("capsnet")
        >>> spec.own_loss, spec.batchnorm_epsilon  # (True, None)
    """

    name: str
    builder: Callable[..., keras.Model]
    family: str
    parameters: int
    own_loss: bool = False
    cpu_precision: str | None = None
    batchnorm_epsilon: float | None = None
    small_variant: dict = dataclasses.field(default_factory=dict)
    legacy_input_shape: tuple[int, int, int] | None = None
    reconstructs: bool = False

    def __post_init__(self):
        if self.cpu_precision not in (None, *PRECISIONS):
            raise ValueError(
                f"cpu_precision must be None or one of {', '.join(PRECISIONS)}. "
                f"Received: cpu_precision={self.cpu_precision!r}"
            )


def register_model(name: str, *, family: str, parameters: int, **traits):
    """Decorator that registers a builder `fn(input_shape, num_classes, **kwargs)` under `name`.

    Args:
        name: the registry name, unique.
        family: the family's name (see `ModelSpec`).
        parameters: the default model's parameter count at 28x28x1 with 10 classes.
        **traits: the other fields of `ModelSpec`; a family file keeps the traits its entries
            share in one dict and spreads it into each registration.

    Example:
        >>> FAMILY_TRAITS = {"family": "wide-resnet", "batchnorm_epsilon": 1e-5}
        >>> @register_model("wrn-16-4", parameters=2_752_218, **FAMILY_TRAITS)
        ... def wrn_16_4(input_shape=(28, 28, 1), num_classes=10, **kwargs):
        ...     return WideResNet(input_shape, num_classes, depth=16, width=4, **kwargs)
    """

    def decorator(builder):
        if name in _SPECS:
            raise ValueError(f"name must be new to the registry. Received: name={name!r}")
        _SPECS[name] = ModelSpec(name, builder, family, parameters, **traits)
        return builder

    return decorator


def get_spec(name: str) -> ModelSpec:
    """The spec registered under `name`.

    Example:
        >>> get_spec("mobilenet-v2").cpu_precision  # "float32"
    """
    if name not in _SPECS:
        raise ValueError(
            f"name must be a registered model, one of {', '.join(list_models())}. "
            f"Received: name={name!r}"
        )
    return _SPECS[name]


def parameter_count(name: str) -> int:
    """The default model's parameter count at 28x28x1 with 10 classes, without building it."""
    return get_spec(name).parameters


def list_families() -> list[str]:
    """The registered families' names, sorted."""
    return sorted({spec.family for spec in _SPECS.values()})


def list_models(family: str | None = None) -> list[str]:
    """Registered model names, sorted: every one, or those of `family`.

    Example:
        >>> list_models("mobilenet-v2")  # ["mobilenet-v2", "mobilenet-v2-0.5"]
    """
    if family is None:
        return sorted(_SPECS)
    if family not in list_families():
        raise ValueError(
            f"family must be one of {', '.join(list_families())}. Received: family={family!r}"
        )
    return sorted(name for name, spec in _SPECS.items() if spec.family == family)


def build_model(
    name: str, input_shape: tuple[int, int, int] = (28, 28, 1), num_classes: int = 10, **kwargs
) -> keras.Model:
    """Builds a fresh, uncompiled model by registry name.

    Example:
        >>> model = build_model("simple-cnn", input_shape=(28, 28, 1), num_classes=10)
    """
    builder = get_spec(name).builder
    return builder(input_shape=tuple(input_shape), num_classes=num_classes, **kwargs)
