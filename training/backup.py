"""What lets a run stop at any moment and continue: complete-epoch backups, a lock, the clock.

A run owns three folders (record, checkpoints, TensorBoard logs) under one name. Its identity, a
random id written to `identity.json` in the record and the checkpoint folders when it starts,
is checked before a resumed run loads anything, so a run never adopts state it did not write.
"""

import json
import os
import time
import uuid
from pathlib import Path

import keras
import numpy as np

from outputs.io import atomic_write_json
from records.provenance import utc_now

IDENTITY_FILE = "identity.json"
STATE_FILE = "state.json"
LOCK_FILE = "run.lock"
ATTEMPTS_FILE = "attempts.json"
# A lock without a process id younger than this is being written by the process that created
# it, and is not taken over as a killed process's.
LOCK_WRITE_SECONDS = 10.0


class RunStateError(RuntimeError):
    """A run's folders cannot be used as asked: another run's state, or a run already training."""


def write_identity(*folders: Path) -> str:
    """Gives a new run a random id, written to each folder; returns it."""
    run_id = uuid.uuid4().hex
    for folder in folders:
        atomic_write_json(Path(folder) / IDENTITY_FILE, {"run_id": run_id, "created": utc_now()})
    return run_id


def check_identity(run_dir: Path, checkpoint_dir: Path) -> str:
    """The run's id, after checking that its checkpoint folder was written by the same run."""
    ids = []
    for folder in (run_dir, checkpoint_dir):
        try:
            ids.append(json.loads((folder / IDENTITY_FILE).read_text())["run_id"])
        except (OSError, ValueError, KeyError, TypeError):
            ids.append(None)
    if ids[0] is None or ids[0] != ids[1]:
        raise RunStateError(
            f"{checkpoint_dir} does not belong to the run recorded in {run_dir} (identity "
            f"{ids[1]} against {ids[0]}): another run used the name {run_dir.name!r}. Nothing was "
            "loaded or changed; start a new run instead of resuming this one."
        )
    return ids[0]


class RunLock:
    """An exclusive lock file holding the process id, so one run trains in one process at a time.

    A lock left by a process that no longer exists (killed) is taken over; a lock still empty
    for a moment after it was created is not, as its process is writing its id.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.held = False

    def acquire(self) -> "RunLock":
        for _ in range(2):
            try:
                descriptor = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = self._owner()
                if owner is None and self._age() < LOCK_WRITE_SECONDS:
                    raise RunStateError(
                        f"Run {self.path.parent.name!r} is being started by another process "
                        f"({self.path}). Wait for it to finish or stop it first."
                    ) from None
                if owner is not None and _process_exists(owner):
                    raise RunStateError(
                        f"Run {self.path.parent.name!r} is being trained by process {owner} "
                        f"({self.path}). Wait for it to finish or stop it first."
                    ) from None
                self.path.unlink(missing_ok=True)  # left by a process that was killed
                continue
            with os.fdopen(descriptor, "w") as file:
                file.write(str(os.getpid()))
            self.held = True
            return self
        raise RunStateError(f"Could not take the lock {self.path}; try again.")

    def release(self) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False

    def _age(self) -> float:
        try:
            return time.time() - self.path.stat().st_mtime
        except OSError:
            return float("inf")  # gone meanwhile: the next attempt creates it

    def _owner(self) -> int | None:
        try:
            return int(self.path.read_text().strip())
        except (OSError, ValueError):
            return None


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def read_backup_state(backup_dir: Path, run_id: str) -> dict | None:
    """The newest complete epoch of the backup, `{"epoch": N, "weights": file name}`, or None when
    there is none. Raises `RunStateError` for a backup of another run."""
    try:
        state = json.loads((Path(backup_dir) / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    if state.get("run_id") != run_id:
        raise RunStateError(
            f"The backup in {backup_dir} was written by another run ({state.get('run_id')}, not "
            f"{run_id}); it was left as it is."
        )
    files = (state.get("weights"), state.get("random_state"))
    if not all(name and (Path(backup_dir) / str(name)).is_file() for name in files):
        return None
    return state


class EpochBackup(keras.callbacks.Callback):
    """Saves the model's and the optimizer's variables after every epoch and restores them when
    the run continues, in the manner of `keras.callbacks.BackupAndRestore`, but so that a kill at
    any moment leaves a resumable backup.

    Each epoch's variables go to files of their own (the weights, and the seed generators'
    states that `save_weights` leaves out), written under a temporary name and renamed when
    complete; `state.json`, renamed over the previous one last, names the newest complete files,
    and only then are the previous ones deleted. The state never points at a partial file.

    Args:
        backup_dir: folder of the backup files.
        run_id: identity of the run, stored in the state and checked by `read_backup_state`.
        state: the state to continue from (`read_backup_state`), or None to start afresh.
    """

    def __init__(self, backup_dir: Path, run_id: str, state: dict | None = None):
        super().__init__()
        self.backup_dir = Path(backup_dir)
        self.run_id = run_id
        self.state = state

    @property
    def completed_epochs(self) -> int:
        return self.state["epoch"] if self.state else 0

    def on_train_begin(self, logs=None):
        if not self.completed_epochs:
            return
        if self.model.optimizer is not None and not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)
        self.model.load_weights(self.backup_dir / self.state["weights"])
        with np.load(self.backup_dir / self.state["random_state"]) as saved:
            for index, variable in enumerate(self._random_state_variables()):
                variable.assign(saved[f"v{index}"])
        self.model._initial_epoch = self.completed_epochs  # read by fit, as for BackupAndRestore

    def on_epoch_end(self, epoch, logs=None):
        self.backup_dir.mkdir(parents=True, exist_ok=True)
        stem = f"epoch-{epoch + 1:04d}"
        names = {"weights": f"{stem}.weights.h5", "random_state": f"{stem}.random.npz"}
        self._write(names["weights"], self.model.save_weights)
        arrays = {f"v{i}": np.asarray(v) for i, v in enumerate(self._random_state_variables())}
        self._write(names["random_state"], lambda path: np.savez(path, **arrays))
        self.state = {"run_id": self.run_id, "epoch": epoch + 1, **names}
        atomic_write_json(self.backup_dir / STATE_FILE, self.state)
        for old in self.backup_dir.glob("epoch-*"):
            if old.name not in names.values():
                old.unlink(missing_ok=True)

    def _write(self, name: str, save) -> None:
        temporary = self.backup_dir / f".tmp-{name}"  # save_weights needs the .weights.h5 end
        try:
            save(temporary)
            os.replace(temporary, self.backup_dir / name)
        finally:
            temporary.unlink(missing_ok=True)

    def _random_state_variables(self) -> list:
        """Variables that `save_weights` leaves out: the seed generators of dropout and other
        random layers, without which a resumed run would draw other masks."""
        saved = {id(variable) for variable in self.model.weights}
        return [variable for variable in self.model.variables if id(variable) not in saved]


class AttemptClock(keras.callbacks.Callback):
    """Records the wall and training seconds of every attempt of a run (each resume is one) in
    `attempts.json`, updated after every epoch, so a killed attempt counts up to its last epoch.
    """

    def __init__(self, path: Path, started: float):
        super().__init__()
        self.path = Path(path)
        self.started = started
        self.fit_started = None
        try:
            self.attempts = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self.attempts = []
        self.attempts.append({"started": utc_now(), "wall_seconds": 0.0, "fit_seconds": 0.0})

    def on_train_begin(self, logs=None):
        self.fit_started = time.perf_counter()
        self.update()  # the attempt is on record even if it is killed in its first epoch

    def on_epoch_end(self, epoch, logs=None):
        self.update()

    def update(self) -> None:
        now = time.perf_counter()
        attempt = self.attempts[-1]
        attempt["wall_seconds"] = now - self.started
        if self.fit_started is not None:
            attempt["fit_seconds"] = now - self.fit_started
        atomic_write_json(self.path, self.attempts)

    def on_train_end(self, logs=None):
        self.update()
        self.fit_started = None  # evaluation is wall time, not training time

    def totals(self) -> dict:
        """`wall_seconds` and `fit_seconds` over every attempt, and the attempts themselves."""
        self.update()
        return {
            "wall_seconds": sum(attempt["wall_seconds"] for attempt in self.attempts),
            "fit_seconds": sum(attempt["fit_seconds"] for attempt in self.attempts),
            "attempts": self.attempts,
        }
