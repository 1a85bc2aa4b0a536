"""The augmentation knobs and the one set of values each takes, read by the configuration's
checks and by the augmentation layers alike. Importing this module loads no TensorFlow."""

# knob -> (least, greatest, whether the greatest is allowed, what the number is). A shift or a
# zoom of 1 would move the whole image out of the frame or shrink it to nothing.
AUGMENTATION_BOUNDS = {
    "rotation_range": (0.0, 180.0, True, "degrees"),
    "zoom_range": (0.0, 1.0, False, "a fraction"),
    "width_shift_range": (0.0, 1.0, False, "a fraction"),
    "height_shift_range": (0.0, 1.0, False, "a fraction"),
    "horizontal_flip": (0.0, 1.0, True, "a probability"),
    "random_erasing": (0.0, 1.0, True, "a probability"),
}
AUGMENTATION_KNOBS = tuple(AUGMENTATION_BOUNDS)


def knob_allowed(name: str) -> str:
    """What knob `name` takes, as the errors word it: `in [0, 180] degrees`, `a fraction in
    [0, 1)`."""
    low, high, inclusive, unit = AUGMENTATION_BOUNDS[name]
    interval = f"[{low:g}, {high:g}{']' if inclusive else ')'}"
    return f"in {interval} {unit}" if unit == "degrees" else f"{unit} in {interval}"


def knob_within(name: str, value: float) -> bool:
    low, high, inclusive, _ = AUGMENTATION_BOUNDS[name]
    return low <= value <= high if inclusive else low <= value < high


def check_knob(name: str, value: float) -> None:
    """A ValueError naming knob `name`, what it takes and `value`, when it is out of bounds."""
    if not knob_within(name, value):
        raise ValueError(f"{name} must be {knob_allowed(name)}. Received: {name}={value}")
