"""The base class of the model families: a functional model configured by its arguments."""

import inspect
import types

import keras


def _as_tuples(value):
    """Lists (as a JSON config returns them) and tuples as tuples, recursively."""
    if isinstance(value, list | tuple):
        return tuple(_as_tuples(item) for item in value)
    return value


class ConfigurableModel(keras.Model):
    """A functional model whose config is the arguments its family's constructor was called with.

    The arguments are recorded, with their defaults, before the family's `__init__` runs, so a
    family validates them, builds its graph and calls `super().__init__(inputs, outputs,
    **kwargs)`: `get_config` returns the recorded arguments (sequences as tuples) with `name` and
    `trainable`, `from_config` calls the constructor again, and a `.keras` file holds the
    arguments instead of the layer graph. `arguments` gives them to the family's methods.

    Args:
        inputs: the model's input tensor.
        outputs: the model's output tensor.
        **kwargs: `keras.Model` arguments such as `name`.

    Example:
        >>> class Linear(ConfigurableModel):
        ...     def __init__(self, units=10, **kwargs):
        ...         inputs = keras.Input((4,))
        ...         super().__init__(inputs, keras.layers.Dense(units)(inputs), **kwargs)
        >>> Linear(units=3).get_config()  # {"name": ..., "trainable": True, "units": 3}
    """

    def __new__(cls, *args, **kwargs):
        model = super().__new__(cls, *args, **kwargs)
        signature = inspect.signature(cls.__init__)
        try:
            call = signature.bind(model, *args, **kwargs)
        except TypeError:
            # Keras calls `cls.__new__(cls)` without arguments while it sets up functional
            # subclasses; a constructor call that does not fit raises in `__init__`.
            return model
        call.apply_defaults()
        parameters = list(signature.parameters.values())[1:]
        arguments = {
            parameter.name: _as_tuples(call.arguments[parameter.name])
            for parameter in parameters
            if parameter.kind is not inspect.Parameter.VAR_KEYWORD
        }
        # Read-only, and set past Keras's attribute tracking, which would wrap a dict.
        object.__setattr__(model, "_arguments", types.MappingProxyType(arguments))
        return model

    def __init__(self, inputs, outputs, **kwargs):
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

    @property
    def arguments(self):
        """The constructor's arguments, defaults included, as a new dict."""
        return dict(self._arguments)

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable, **self._arguments}
