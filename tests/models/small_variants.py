"""Small variants of the registered models, for the tests that train or save them."""

# Per family (class name): arguments that shrink a registry entry's model but keep what tells
# the entries apart (WRN depth, MobileNetV2 alpha, ShuffleNetV2 stage widths). Dropout is off, so
# that a training step's loss depends on the weights alone.
SMALL_VARIANT_OVERRIDES = {
    "WideResNet": {"width": 1, "dropout": 0.0},
    "MobileNetV2": {"stage_repeats": (1, 1, 1, 1, 1, 1, 1)},
    "ShuffleNetV2": {"stage_repeats": (1, 1, 1)},
    "CapsuleNet": {"conv_filters": 32, "primary_channels": 8, "decoder_units": (64, 128)},
    "SimpleCNN": {"dropout": (0.0, 0.0)},
}
# One entry per family (model class), the smallest, for the tests that run once per family.
FAMILY_REPRESENTATIVES = (
    "capsnet",
    "fast-cnn-small",
    "mobilenet-v2-0.5",
    "shufflenet-v2-0.5",
    "simple-cnn-bn",
    "wrn-16-4",
)


def small_variant_config(model, **overrides):
    """`model`'s config with its family's small-variant arguments, then `overrides`."""
    family = type(model).__name__
    return {**model.get_config(), **SMALL_VARIANT_OVERRIDES.get(family, {}), **overrides}


def small_variant(model, **overrides):
    """A fresh model of `model`'s family built from `small_variant_config`."""
    return type(model).from_config(small_variant_config(model, **overrides))
