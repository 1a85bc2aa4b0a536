"""Constructor arguments of a registered model checked before anything is built for a run:
names the model takes, values of the type of each argument's default, values it accepts."""

from models.registry import build_model

# Entries of a model's configuration that a run sets itself, not model arguments.
RUN_SET = ("name", "trainable", "input_shape", "num_classes")


def check_model_arguments(model: str, arguments: dict, input_shape=(28, 28, 1),
                          num_classes: int = 10) -> None:
    """Refuses constructor `arguments` of the registered `model` before a run writes anything: an
    argument the model does not take, a value of another type than the argument's default (read
    from a model built with the defaults), then, by building the model with them, a value the
    model refuses.

    Args:
        model: a registered model name.
        arguments: the constructor arguments to check (`model.args` of a configuration).
        input_shape, num_classes: what the model is built for.

    Example: `check_model_arguments("fast-cnn", {"stem_width": "wide"})` raises
    `ValueError("model_args.stem_width must be an int (the default is 16). Received: ...")`.
    """
    default_model = build_model(model, input_shape=input_shape, num_classes=num_classes)
    defaults = default_model.get_config()
    unknown = sorted(set(arguments) - set(defaults))
    if unknown:  # keras.Model would take them silently
        allowed = ", ".join(sorted(set(defaults) - set(RUN_SET)))
        problem = (f"{', '.join(unknown)} is not an argument of "
                   f"{type(default_model).__name__}, which takes {allowed}")
        raise _model_arguments_error(model, arguments, problem)
    for name, value in arguments.items():
        check_argument_type(name, value, defaults[name])
    try:
        build_model(model, input_shape=input_shape, num_classes=num_classes, **arguments)
    except (TypeError, ValueError) as error:
        raise _model_arguments_error(model, arguments, error) from error


def _model_arguments_error(model: str, arguments: dict, problem) -> ValueError:
    return ValueError(
        f"model_args must be constructor arguments of {model} ({problem}). "
        f"Received: model_args={arguments!r}"
    )


def check_argument_type(name: str, value, default) -> None:
    """Refuses a model argument whose type differs from its default's, so that a word given for
    a number is named here rather than failing inside the model with Python's own message. A
    None default takes anything, an int is a number, and a list a tuple."""
    if not _same_kind(value, default):
        raise ValueError(
            f"model_args.{name} must be {_kind(default)} (the default is {default!r}). "
            f"Received: {value!r} ({type(value).__name__})"
        )


def _same_kind(value, default) -> bool:
    if default is None:
        return True
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, float):
        return isinstance(value, int | float)
    if isinstance(default, tuple | list):
        return isinstance(value, tuple | list) and all(
            _same_kind(item, _item_default(default)) for item in value
        )
    return isinstance(value, type(default))


def _item_default(sequence):
    """The default an item of `sequence` is checked against: its first item, when every item
    has that item's kind; None (anything) for an empty or mixed sequence."""
    first = sequence[0] if sequence else None
    return first if all(_same_kind(item, first) for item in sequence) else None


_KIND_NOUNS = {bool: "bool", int: "int", float: "number", str: "string", list: "tuple"}


def _kind(default) -> str:
    """How a default's type reads in a message: "an int", "a number", "a tuple of ints"."""
    noun = _noun(default)
    return f"{'an' if noun[0] in 'aeiou' else 'a'} {noun}"


def _noun(default) -> str:
    noun = _KIND_NOUNS.get(type(default), type(default).__name__)
    if isinstance(default, tuple | list) and _item_default(default) is not None:
        first, _, rest = _noun(_item_default(default)).partition(" ")
        noun = f"tuple of {first}s{' ' + rest if rest else ''}"
    return noun
