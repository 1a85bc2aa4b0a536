"""Name -> model builder registry, in the manner of timm's `create_model`."""

from collections.abc import Callable

import keras

_BUILDERS: dict[str, Callable[..., keras.Model]] = {}
_PARAMETERS: dict[str, int] = {}


def register_model(name: str, parameters: int | None = None):
    """Decorator that registers a builder `fn(input_shape, num_classes, **kwargs)` under `name`.

    `parameters`, the default model's parameter count at 28x28x1 with 10 classes, lets
    `parameter_count` answer without building it (the registry contract test checks it).
    """

    def decorator(builder):
        if name in _BUILDERS:
            raise ValueError(f"A model named {name!r} is already registered.")
        _BUILDERS[name] = builder
        if parameters is not None:
            _PARAMETERS[name] = parameters
        return builder

    return decorator


def parameter_count(name: str) -> int:
    """The default model's parameter count: the registered number, or a built model's."""
    if name in _PARAMETERS:
        return _PARAMETERS[name]
    return build_model(name).count_params()


def registered_parameter_count(name: str) -> int | None:
    return _PARAMETERS.get(name)


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
