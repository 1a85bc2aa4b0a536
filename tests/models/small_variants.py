"""Small variants of the registered models and one entry per family, from the registry's specs,
for the tests that train or save them."""

from models import get_spec, list_families, list_models, parameter_count

# One entry per family, its smallest, for the tests that run once per family.
FAMILY_REPRESENTATIVES = tuple(
    min(list_models(family), key=parameter_count) for family in list_families()
)


def small_variant_config(name, model, **overrides):
    """The config of `model`, entry `name` built with its defaults, with the spec's
    `small_variant` arguments, then `overrides`."""
    return {**model.get_config(), **get_spec(name).small_variant, **overrides}


def small_variant(name, model, **overrides):
    """A fresh model of `model`'s class built from `small_variant_config`."""
    return type(model).from_config(small_variant_config(name, model, **overrides))
