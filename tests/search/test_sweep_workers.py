"""Workers as separate processes: a killed worker's trial is failed by the next and retried
with its settings; two workers started with the same command on one PostgreSQL study share
its total of trials, each with settings of its own, without sharing a number or a run
folder."""

import json
import re
import signal
import subprocess
import sys
import time

import optuna
import psycopg
import pytest
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState
from sqlalchemy.engine import make_url

from search.study import default_storage_url
from tests.conftest import REPO_ROOT
from tests.search.tiny_sweep import TINY_SPACE, run_sweep, sweep_args, trials, worker

HEARTBEAT = 1  # seconds: a killed worker's trial is stale 2 seconds after its last beat
STARTUP_SECONDS = 180  # for a worker to import TensorFlow, load the data and start its trial


def wait_for(path, process, seconds: float = STARTUP_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert process.poll() is None, process.stdout.read()
        assert time.monotonic() < deadline, f"{path} did not appear in {seconds} s"
        time.sleep(0.2)


@pytest.mark.slow
def test_a_killed_workers_trial_is_failed_and_retried(tmp_path, run_paths, monkeypatch):
    space = tmp_path / "space.toml"
    space.write_text(TINY_SPACE)
    args = sweep_args("killed", space, "--trials", "1", "--heartbeat", str(HEARTBEAT))
    process = worker(args, tmp_path)
    wait_for(tmp_path / "results_path" / "killed-trial0" / "config.json", process)
    process.send_signal(signal.SIGKILL)  # mid-trial: the run folder exists, training has not ended
    process.wait()
    storage = f"sqlite:///{tmp_path}/results_path/sweeps/killed/study.db"
    assert [t.state for t in trials("killed", storage)] == [TrialState.RUNNING]
    time.sleep(2 * HEARTBEAT + 1)  # the killed trial's last heartbeat is older than the grace
    for name in ("RESULTS_PATH", "DL_MODELS_PATH", "TB_LOGS_PATH"):
        monkeypatch.setenv(name, str(tmp_path / name.lower()))
    assert default_storage_url("killed") == storage
    assert run_sweep(args) == 0
    killed, retried = trials("killed", storage)
    assert killed.state == TrialState.FAIL
    assert retried.state == TrialState.COMPLETE
    assert RetryHeartbeatStaleTrialCallback.retried_trial_number(retried) == killed.number
    assert retried.params == killed.params
    assert (tmp_path / "results_path" / "killed-trial1" / "result.json").exists()


@pytest.mark.slow
def test_ctrl_c_ends_a_worker_with_one_clean_message(tmp_path):
    space = tmp_path / "space.toml"
    space.write_text(TINY_SPACE)
    args = sweep_args("stopped", space, "--trials", "2")
    args[args.index("schedule.epochs=1")] = "schedule.epochs=3"  # time to stop it mid-training
    process = worker(args, tmp_path)
    lines = []
    for line in process.stdout:  # until the trial's second epoch, past compiling its step
        lines.append(line)
        if line.startswith("Epoch 2/"):
            break
    deadline = time.monotonic() + 60
    while process.poll() is None and time.monotonic() < deadline:
        # Again while it runs on: an interrupt landing in a garbage collector's callback is
        # dropped by Python itself.
        process.send_signal(signal.SIGINT)
        time.sleep(5)
    output = "".join(lines) + process.stdout.read()
    assert process.wait() == 130, output
    assert output.rstrip().endswith("Interrupted; rerun the command to continue the study.")
    assert "failed with parameters" not in output and "RunInterrupted" not in output, output
    storage = f"sqlite:///{tmp_path}/results_path/sweeps/stopped/study.db"
    (stopped,) = trials("stopped", storage)
    assert stopped.state == TrialState.FAIL and "fail_reason" not in stopped.user_attrs


@pytest.mark.slow
def test_two_workers_started_with_one_command_train_distinct_settings(tmp_path, postgres_url):
    space = tmp_path / "space.toml"
    space.write_text(TINY_SPACE)
    total = 4
    command = sweep_args("shared", space, "--trials", str(total), "--storage", postgres_url)
    processes = {name: worker(command, tmp_path) for name in ("a", "b")}
    outputs = {name: process.communicate(timeout=600)[0] for name, process in processes.items()}
    assert all(process.returncode == 0 for process in processes.values()), outputs
    study = optuna.load_study(study_name="shared", storage=postgres_url)
    assert all(trial.state == TrialState.COMPLETE for trial in study.trials)
    # The study's total, give or take a trial both workers started at the same instant.
    assert total <= len(study.trials) <= total + 1, [t.number for t in study.trials]
    settings = [tuple(sorted(trial.params.items())) for trial in study.trials]
    assert len(set(settings)) == len(settings), settings  # no worker replays the other's draws
    seeds = {trial.user_attrs["sampler_seed"] for trial in study.trials}
    assert len(seeds) == 2  # a seed per worker, kept in its trials
    folders = {}
    for output in outputs.values():  # "trial N: complete, value V, 1 epoch(s), FOLDER"
        lines = re.findall(r"^trial (\d+): complete, .*, (\S+)$", output, re.MULTILINE)
        assert lines, output  # both workers ran trials
        folders.update({folder: int(number) for number, folder in lines})
    assert len(folders) == len(study.trials)  # no folder written by two trials
    for folder, number in folders.items():
        record = json.loads((tmp_path / "results_path" / folder.rsplit("/", 1)[-1]
                             / "result.json").read_text())
        assert record["trial"]["number"] == number
        assert record["config"]["tags"] == ["study:shared", f"trial:{number}"]


@pytest.mark.slow
def test_workers_started_together_on_an_empty_database_all_open_it(postgres_url):
    # Each creates the study tables; on PostgreSQL all but one used to fail on the catalog's
    # unique index ("duplicate key value"), which a plain optuna.storages.RDBStorage still does.
    url = make_url(postgres_url)
    with psycopg.connect(host=url.host, port=url.port, user=url.username, dbname=url.database,
                         autocommit=True) as connection:
        connection.execute("CREATE DATABASE fresh_tables")
    fresh = url.set(database="fresh_tables").render_as_string(hide_password=False)
    code = "import sys; from search.study import open_storage; open_storage(sys.argv[1])"
    workers = [subprocess.Popen([sys.executable, "-c", code, fresh], cwd=REPO_ROOT, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
               for _ in range(3)]
    outputs = [worker.communicate(timeout=120)[0] for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0, 0], outputs
