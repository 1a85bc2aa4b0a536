"""Name -> model builder registry, in the manner of timm's `create_model`."""

from collections.abc import Callable

import keras

_BUILDERS: dict[str, Callable[..., keras.Model]] = {}


def register_model(name: str):
    """Decorator that registers a builder `fn(input_shape, num_classes, **kwargs)` under `name`."""

    def decorator(builder):
        if name in _BUILDERS:
            raise ValueError(f"A model named {name!r} is already registered.")
        _BUILDERS[name] = builder
        return builder

    return decorator


def list_models() -> list[str]:
    """Registered model names, sorted."""
    return sorted(_BUILDERS)


def build_model(
    name: str, input_shape: tuple[int, int, int] = (28, 28, 1), num_classes: int = 10, **kwargs
) -> keras.Model:
    """Builds a fresh, uncompiled model by registry name.

    Example:
        >>> model = build_model("simple-cnn", input_shape=(28, 28, 1), num_classes=10)
    """
    if name not in _BUILDERS:
        raise ValueError(f"Unknown model {name!r}. Known models: {', '.join(list_models())}.")
    return _BUILDERS[name](input_shape=tuple(input_shape), num_classes=num_classes, **kwargs)
