"""Files written whole or not at all: a temporary file beside the target, then a rename."""

import io
import json
import os
import secrets
import stat
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
