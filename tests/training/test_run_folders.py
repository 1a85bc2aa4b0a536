"""A run's folders: free names in every output folder, identity, lock, bad paths, a full disk."""

import errno
import json
import os
import subprocess
import sys
import time

import pytest

import train
import training.experiment as experiment
from training import ExperimentConfig, run_experiment
from training.backup import (
    IDENTITY_FILE,
    LOCK_WRITE_SECONDS,
    EpochBackup,
    RunLock,
    RunStateError,
)

TINY = dict(epochs=2, limit_train=200, val_size=100, batch_size=50)


def new_folders(name="same", **changes):
    config = ExperimentConfig().replace(**TINY, run_name=name, **changes).resolved().validate()
    return experiment.prepare_run_folders(config, resume=False)


def test_a_name_taken_in_any_output_folder_gets_a_suffix(run_paths):
    other_run = run_paths["DL_MODELS_PATH"] / "same"
    other_run.mkdir(parents=True)
    (other_run / "best.keras").write_bytes(b"another run's checkpoint")
    (run_paths["TB_LOGS_PATH"] / "same-2").mkdir(parents=True)

    folders = new_folders()

    assert folders.name == "same-3"
    assert [p.name for p in (folders.run_dir, folders.checkpoint_dir, folders.tensorboard_dir)] == [
        "same-3"
    ] * 3
    assert (other_run / "best.keras").read_bytes() == b"another run's checkpoint"
    assert sorted(p.name for p in run_paths["RESULTS_PATH"].iterdir()) == ["same-3"]


def test_resume_refuses_a_checkpoint_folder_written_by_another_run(run_paths, fashion_mnist):
    folders = new_folders()
    # Another run, recorded elsewhere, used the same checkpoint folder name.
    (folders.checkpoint_dir / IDENTITY_FILE).write_text(json.dumps({"run_id": "someone-else"}))
    with pytest.raises(RunStateError, match="does not belong to the run recorded in"):
        run_experiment(ExperimentConfig().replace(run_name="same"), resume=True, data=fashion_mnist)
    assert not (folders.checkpoint_dir / "backup").exists()


def test_a_run_is_trained_by_one_process_at_a_time(run_paths, capsys):
    folders = new_folders()
    lock = RunLock(folders.checkpoint_dir / "run.lock").acquire()
    try:
        assert train.main(["--resume", "same"]) == 2
        assert f"is being trained by process {os.getpid()}" in capsys.readouterr().err
    finally:
        lock.release()
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    (folders.checkpoint_dir / "run.lock").write_text(finished.stdout)  # left by a killed process
    RunLock(folders.checkpoint_dir / "run.lock").acquire().release()


def every_file(roots: dict) -> dict:
    """{path: (bytes, modification time)} of every file under the output folders."""
    return {
        path: (path.read_bytes(), path.stat().st_mtime_ns)
        for root in roots.values() for path in sorted(root.rglob("*")) if path.is_file()
    }


def test_a_refused_resume_leaves_every_file_of_the_running_run_untouched(run_paths, capsys):
    folders = new_folders("busy")
    folders.backup_dir.mkdir()
    # What a run writes under temporary names while it saves an epoch.
    temporaries = [folders.backup_dir / ".tmp-epoch-0001.weights.h5",
                   folders.run_dir / ".history.json.1a2b3c4d.tmp",
                   folders.checkpoint_dir / ".best.keras.5e6f7a8b.tmp"]
    for path in temporaries:
        path.write_bytes(b"being written")
    trainer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    try:
        # The lock as the training process holds it.
        (folders.checkpoint_dir / "run.lock").write_text(str(trainer.pid))
        before = every_file(run_paths)
        assert train.main(["--resume", "busy"]) == 2
        assert f"Run 'busy' is being trained by process {trainer.pid}" in capsys.readouterr().err
        assert every_file(run_paths) == before
    finally:
        trainer.kill()
        trainer.wait()
    # Once the lock is the resumed run's, the killed attempt's temporary files go.
    experiment.continue_from(folders, say=lambda text: None)
    assert not any(path.exists() for path in temporaries)


def test_a_lock_whose_process_is_writing_its_id_is_not_taken_over(tmp_path):
    lock = tmp_path / "run.lock"
    lock.write_text("")  # created by another process, its id not written yet
    with pytest.raises(RunStateError, match="is being started by another process"):
        RunLock(lock).acquire()
    assert lock.read_text() == ""
    old = time.time() - LOCK_WRITE_SECONDS - 1  # left empty by a process killed at once
    os.utime(lock, (old, old))
    RunLock(lock).acquire().release()
    assert not lock.exists()


@pytest.mark.parametrize("variable", ["DL_MODELS_PATH", "TB_LOGS_PATH", "RESULTS_PATH"])
def test_an_unusable_output_folder_is_named_and_nothing_is_written(
    variable, run_paths, monkeypatch, tmp_path
):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(variable, str(blocker / "inside"))
    with pytest.raises(PermissionError, match=f"Set {variable} to a writable folder"):
        new_folders()
    for name, folder in run_paths.items():
        if name != variable:
            assert not folder.exists() or not any(folder.iterdir()), name


@pytest.mark.slow
def test_a_full_disk_names_the_file_and_keeps_the_last_backup(
    run_paths, fashion_mnist, monkeypatch
):
    write = EpochBackup._write

    def fail_in_epoch_two(self, name, save):
        if name.startswith("epoch-0002"):
            raise OSError(errno.ENOSPC, "No space left on device", str(self.backup_dir / name))
        write(self, name, save)

    monkeypatch.setattr(EpochBackup, "_write", fail_in_epoch_two)
    config = ExperimentConfig().replace(**TINY, run_name="full")
    # The test set plays no part in what is checked: scored on validation only, to keep it fast.
    with pytest.raises(OSError, match="Could not write .*epoch-0002.weights.h5: No space left"):
        run_experiment(config, data=fashion_mnist, verbose=0, evaluate_test=False)
    monkeypatch.setattr(EpochBackup, "_write", write)

    resumed = run_experiment(ExperimentConfig().replace(run_name="full"), resume=True,
                             data=fashion_mnist, verbose=0, evaluate_test=False)
    assert resumed.record.status == "completed" and resumed.record.epochs_run == 2
    assert len(resumed.record.attempts) == 2


def test_ctrl_c_names_the_run_as_it_was_saved(run_paths, monkeypatch, capsys):
    new_folders("busy")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(experiment, "train", interrupted)
    argv = ["--epochs", "2", "--limit-train", "200", "--val-size", "100", "--run-name", "busy"]
    assert train.main(argv) == 130
    assert "continue with:\n  python train.py --resume busy-2\n" in capsys.readouterr().err
