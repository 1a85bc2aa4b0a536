"""Output names and folders: the one way a command turns a name it was given into a folder.

A name comes from a command line or a notebook and becomes a folder under a root (RESULTS_PATH,
DL_MODELS_PATH, TB_LOGS_PATH): `check_output_name` keeps it one plain folder name, so it can
neither leave its root nor hide in it, and `claim_output_dir` creates the folder under every root
with `mkdir`, which fails on an existing folder, so no command writes into another's folder and
two processes claiming one name at once get two folders.
"""

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path

import config

RUN_ROOTS = ("RESULTS_PATH", "DL_MODELS_PATH", "TB_LOGS_PATH")  # a training run's three folders
IF_TAKEN = ("suffix", "refuse")
MAX_NAME_LENGTH = 128
MAX_SUFFIX = 999
NAME_RULE = (
    f"a plain folder name of at most {MAX_NAME_LENGTH} characters: letters, digits, '-', '_' "
    "and '.', not starting with '.' nor holding '..'"
)
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")


def check_output_name(name, what: str) -> str:
    """Returns `name` when it is one plain folder name, else raises a ValueError naming `what`
    (the flag or field it came from, such as "--name" or "run_name").

    A separator, '..' or an absolute path would put the folder outside its root, a leading dot
    would hide it from listings and the report, and other characters mean different things to
    different shells and file systems.
    """
    if not is_output_name(name):
        raise ValueError(f"{what} must be {NAME_RULE}. Received: {_received(what, name)}")
    return name


def is_output_name(name) -> bool:
    """Whether `name` follows NAME_RULE; for code that words the error itself."""
    return (
        isinstance(name, str)
        and len(name) <= MAX_NAME_LENGTH
        and _PLAIN_NAME.fullmatch(name) is not None
        and ".." not in name
    )


def _received(what: str, name) -> str:
    """`--run-name` and `run_name` both as `run_name=<value>`, as every error here ends."""
    return f"{what.lstrip('-').replace('-', '_')}={name!r}"


def output_roots(labels: tuple[str, ...] = RUN_ROOTS) -> dict[str, Path]:
    """{label: folder} of the `config.py` variables named by `labels`, read now, so a changed
    environment variable counts."""
    return {label: getattr(config, label) for label in labels}


def check_output_roots(roots: Mapping[str, Path]) -> None:
    """Creates each root if needed and checks that it is writable, before a command writes
    anything, so a bad path leaves nothing half-made behind; the error names the variable (the
    label) that sets the root."""
    for label, root in roots.items():
        try:
            Path(root).mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise PermissionError(
                f"Cannot create {label}={root} ({error.strerror}). "
                f"Set {label} to a writable folder."
            ) from error
        if not os.access(root, os.W_OK | os.X_OK):
            raise PermissionError(
                f"{label}={root} is not writable. Set {label} to a writable folder."
            )


def check_output_file(path: Path, what: str) -> Path:
    """Returns `path` when a file can be written there, else raises a ValueError naming `what`
    (the flag, such as "--show"): checked before a command computes or prints anything, and
    without creating anything. The path must not be a folder, and its nearest existing folder
    (the folders after it are created when the file is written) must be a writable folder."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{what} must name a file to write, not a folder. Received: {what} {path}")
    existing = next(folder for folder in (path.parent, *path.parent.parents) if folder.exists())
    if not existing.is_dir():
        raise ValueError(
            f"{what} must be a path under a folder: {existing} is a file, so {path} cannot be "
            f"created. Choose another path. Received: {what} {path}"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"{what} cannot be written: {existing} is not a writable folder. "
                         f"Received: {what} {path}")
    return path


def claim_output_dir(
    roots: Mapping[str, Path],
    name: str,
    *,
    what: str,
    if_taken: str = "suffix",
    say: Callable[[str], None] | None = None,
) -> dict[str, Path]:
    """Creates the folder `name` under every root and returns {label: folder}.

    A name taken under any root is taken under all, so one run's folders share their name. When
    it is taken, `if_taken="suffix"` takes the first free of `name-2`, `name-3`, ... (`suffixed`)
    and tells `say` which folder exists and which name is written instead; `if_taken="refuse"`
    raises a FileExistsError naming the existing folder. The name is checked first
    (`check_output_name`, naming `what`) and the roots next (`check_output_roots`).
    """
    check_output_name(name, what)
    if if_taken not in IF_TAKEN:
        raise ValueError(f"if_taken must be one of {', '.join(IF_TAKEN)}. Received: {if_taken=}")
    check_output_roots(roots)
    existing = None
    for attempt in range(1, MAX_SUFFIX + 1):
        candidate = name if attempt == 1 else suffixed(name, f"-{attempt}")
        try:
            folders = _make_folders(roots, candidate)
        except FileExistsError as error:
            if if_taken == "refuse":
                raise _taken_error(what, name, error.filename) from error
            existing = existing or error.filename
            continue
        if existing and say:
            say(f"{what} {name!r} is taken ({existing} exists): writing {candidate} instead.")
        return folders
    raise FileExistsError(
        f"{what} {name!r} and {suffixed(name, '-2')} to {suffixed(name, f'-{MAX_SUFFIX}')} are all "
        f"taken under {', '.join(map(str, roots.values()))}. Choose another name."
    )


def suffixed(name: str, suffix: str) -> str:
    """`name` and `suffix` (`-2`, `-seed1`), `name` shortened as needed to keep the whole within
    MAX_NAME_LENGTH: a name of the maximum length still gets a folder that `--resume` and
    `export.py` accept."""
    return name[: MAX_NAME_LENGTH - len(suffix)] + suffix


def _make_folders(roots: Mapping[str, Path], name: str) -> dict[str, Path]:
    """`name` created under every root, or under none: a failure removes those already made."""
    made = {}
    try:
        for label, root in roots.items():
            folder = Path(root) / name
            folder.mkdir()
            made[label] = folder
    except OSError:
        for folder in made.values():
            folder.rmdir()
        raise
    return made


def _taken_error(what: str, name: str, existing) -> FileExistsError:
    return FileExistsError(
        f"{what} {name!r} is taken: {existing} exists, and a command never writes into a folder "
        f"it did not create. Choose another name. Received: {_received(what, name)}"
    )
