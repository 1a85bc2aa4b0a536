"""Files written whole or not at all (a temporary file beside the target, then a rename), and
files read whole or refused with one clear error.

Every file a command reads as input (a `--config` file, a preset, a run's saved `config.json`, a
record under RESULTS_PATH) goes through `read_toml` or `read_json`, so each way it can be
unusable (missing, a folder, unreadable, not UTF-8, not valid TOML or JSON, nested too deeply, a
list where a table belongs) is one `UnreadableFileError` naming the file and the problem, raised
before the command writes anything.
"""

import io
import json
import os
import secrets
import stat
import tomllib
from pathlib import Path

import numpy as np


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Writes `data` to a temporary file beside `path`, then renames it over `path`.

    A crash leaves either the old file or the new one, never a partial file. A new file gets the
    mode any new file gets (0o666 less the umask), so results in a shared or bind-mounted folder
    are as readable as files written any other way; a replaced file keeps its mode.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary, descriptor = _create_temporary(path)
    try:
        with os.fdopen(descriptor, "wb") as file:
            if path.exists():
                os.fchmod(file.fileno(), stat.S_IMODE(path.stat().st_mode))
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def atomic_write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """`arrays` in one compressed `.npz`, written atomically."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def _create_temporary(path: Path) -> tuple[Path, int]:
    """A new, empty file beside `path` and its descriptor, opened for writing.

    Unlike `tempfile.mkstemp` (always mode 0o600), the file is created with mode 0o666 so that the
    kernel applies the umask and any default ACL of the folder.
    """
    for _ in range(100):
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            return temporary, os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
    raise FileExistsError(f"Could not create a temporary file beside {path}.")


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, value) -> None:
    atomic_write_text(path, json.dumps(value, indent=2, sort_keys=False, allow_nan=False) + "\n")


# Far deeper than any configuration or record: a crafted file nested deeper would exhaust the
# recursion of whatever walks it next (a copy, a comparison, the JSON writer).
MAX_DEPTH = 32


class UnreadableFileError(ValueError):
    """A file a command reads cannot be used; `problem` says why in a few words ("is a
    folder", "is not valid JSON (...)"), for listings that name and skip the file."""

    def __init__(self, what: str, path: Path, kind: str, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(
            f"{what} must be a readable UTF-8 {kind} file, but it {problem}. Received: {path}"
        )


def read_toml(path: Path, what: str = "A configuration file") -> dict:
    """The tables of the TOML file at `path`; an `UnreadableFileError` naming `what` (such as
    "The --config file" or "Preset 'x'") and the problem otherwise."""
    return _parsed(Path(path), what, "TOML", tomllib.loads, tomllib.TOMLDecodeError)


def read_json(path: Path, what: str = "A record") -> dict:
    """The JSON object in the file at `path`; an `UnreadableFileError` naming `what` and the
    problem otherwise, also for a list or a number where an object belongs."""
    return _parsed(Path(path), what, "JSON", json.loads, json.JSONDecodeError)


def _parsed(path: Path, what: str, kind: str, parse, syntax_error: type) -> dict:
    text = _text(path, what, kind)
    too_deep = UnreadableFileError(what, path, kind, f"nests values deeper than {MAX_DEPTH} levels")
    try:
        value = parse(text)
    except syntax_error as error:
        raise UnreadableFileError(what, path, kind, f"is not valid {kind} ({error})") from None
    except RecursionError:
        raise too_deep from None
    if not _within_depth(value):
        raise too_deep
    if not isinstance(value, dict):
        raise UnreadableFileError(what, path, kind, f"holds {_json_kind(value)}, not an object")
    return value


def _json_kind(value) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    kinds = {list: "an array", str: "a string", int: "a number", float: "a number"}
    return kinds.get(type(value), type(value).__name__)


def _text(path: Path, what: str, kind: str) -> str:
    """The file's text; a folder, a pipe or a device is refused unopened, as reading it would
    fail or wait for input."""
    try:
        mode = path.stat().st_mode
        if stat.S_ISREG(mode):
            return path.read_text(encoding="utf-8")
        problem = "is a folder" if stat.S_ISDIR(mode) else "is not a regular file"
    except FileNotFoundError:
        problem = "does not exist"
    except PermissionError:
        problem = "cannot be read (permission denied)"
    except OSError as error:
        problem = f"cannot be read ({error.strerror or error})"
    except UnicodeDecodeError as error:
        problem = f"is not UTF-8 text ({error.reason} at byte {error.start})"
    raise UnreadableFileError(what, path, kind, problem)


def _within_depth(value) -> bool:
    """Whether `value` nests lists and objects at most MAX_DEPTH deep; walked without recursion,
    since the value may be as deep as the parser allowed."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if not isinstance(item, dict | list):
            continue
        children = item.values() if isinstance(item, dict) else item
        if children and depth > MAX_DEPTH:
            return False
        stack.extend((child, depth + 1) for child in children)
    return True
