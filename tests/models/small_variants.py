"""Small variants of the registered models, for the tests that train or save them."""

# Per family (class name): arguments that shrink a registry entry's model.
SMALL_VARIANT_OVERRIDES = {
    "WideResNet": {"depth": 10, "width": 1, "dropout": 0.0},
    "MobileNetV2": {"alpha": 0.25, "stage_repeats": (1, 1, 1, 1, 1, 1, 1)},
    "ShuffleNetV2": {
        "stage_channels": (48, 96, 192),
        "stage_repeats": (1, 2, 1),
        "final_channels": 256,
    },
    "CapsuleNet": {"conv_filters": 32, "primary_channels": 8, "decoder_units": (64, 128)},
}


def small_variant_config(model, **overrides):
    """`model`'s config with its family's small-variant arguments, then `overrides`."""
    family = type(model).__name__
    return {**model.get_config(), **SMALL_VARIANT_OVERRIDES.get(family, {}), **overrides}


def one_name_per_family(names, default_model):
    """The first of `names` of each model class, in order."""
    first = {}
    for name in names:
        first.setdefault(type(default_model(name)), name)
    return list(first.values())
