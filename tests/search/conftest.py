"""A throwaway PostgreSQL cluster for the tests of studies shared by several workers: created
once per session in a temporary folder, listening on a free local port, removed afterwards.
Without PostgreSQL's programs (`.ci/run` installs Debian's `postgresql`), or when the server
does not start, the tests that need it skip with one line saying why."""

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

DATABASE = "sweeps"
SERVER_USER = "postgres"  # PostgreSQL refuses to run as root: as root, the cluster runs as this


def postgres_bin() -> Path | None:
    """The folder of `pg_ctl` and `initdb`: Debian's /usr/lib/postgresql/<version>/bin, the
    newest first, else wherever PATH finds them."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
                   key=lambda path: int(path.parts[-3]) if path.parts[-3].isdigit() else 0)
    if found:
        return found[-1].parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).resolve().parent if on_path else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def as_server_user(command: list[str]) -> list[str]:
    """`command` run as the `postgres` user when this process is root, else as it is."""
    return ["runuser", "-u", SERVER_USER, "--", *command] if os.geteuid() == 0 else command


def start_cluster(folder: Path, bin_dir: Path, port: int) -> None:
    """initdb into `folder/data`, start the server on 127.0.0.1:`port`, create DATABASE; a
    RuntimeError with the failing program's last output line otherwise."""
    if os.geteuid() == 0:
        user = pwd.getpwnam(SERVER_USER)  # KeyError: no such user
        os.chown(folder, user.pw_uid, user.pw_gid)
    data = folder / "data"
    options = f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={folder}"
    steps = [
        [bin_dir / "initdb", "-D", data, "-A", "trust", "-U", SERVER_USER, "--no-sync"],
        [bin_dir / "pg_ctl", "-D", data, "-o", options, "-l", folder / "server.log", "-w",
         "-t", "30", "start"],
        [bin_dir / "createdb", "-h", "127.0.0.1", "-p", str(port), "-U", SERVER_USER, DATABASE],
    ]
    for step in steps:
        done = subprocess.run(as_server_user(list(map(str, step))), capture_output=True,
                              text=True, timeout=60)
        if done.returncode:
            lines = (done.stderr or done.stdout).strip().splitlines() or ["no output"]
            raise RuntimeError(f"{Path(step[0]).name} failed: {lines[-1]}")


@pytest.fixture(scope="session")
def postgres_url():
    """`postgresql+psycopg://postgres@127.0.0.1:PORT/sweeps` of a fresh cluster, stopped and
    removed after the session; skips the test when no server can be started."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed (no pg_ctl under /usr/lib/postgresql/*/bin "
                    "nor on PATH): apt-get install postgresql, as .ci/run does")
    folder = Path(tempfile.mkdtemp(prefix="sweep-postgres-"))
    port = free_port()
    try:
        start_cluster(folder, bin_dir, port)
    except (RuntimeError, KeyError, OSError, subprocess.TimeoutExpired) as error:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"Could not start a PostgreSQL server for the tests: {error}")
    yield f"postgresql+psycopg://{SERVER_USER}@127.0.0.1:{port}/{DATABASE}"
    subprocess.run(as_server_user([str(bin_dir / "pg_ctl"), "-D", str(folder / "data"), "-m",
                                   "fast", "-w", "stop"]), capture_output=True, timeout=60)
    shutil.rmtree(folder, ignore_errors=True)
