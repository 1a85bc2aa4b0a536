"""A study and where it is stored: SQLite beside the results on one machine, PostgreSQL for
workers on many.

Every worker of a study runs the same command against the same storage; `load_study` creates
the study or continues it. Each running trial beats a heartbeat into the storage: a trial
whose worker was killed stops beating, and the next worker to start a trial marks it failed
and queues it again with the same settings (up to `MAX_RETRY` times).

Example:

```python
url = storage_url(None, "lr-search")   # sqlite:///<RESULTS_PATH>/sweeps/lr-search/study.db
study = load_study("lr-search", open_storage(url), make_sampler("tpe", 0), make_pruner("median"))
```
"""

import math
import secrets
import shlex
import tempfile
import time
from pathlib import Path

import optuna
import sqlalchemy
from optuna.trial import TrialState
from sqlalchemy.engine import make_url

from outputs.folders import (
    MAX_NAME_LENGTH,
    MAX_SUFFIX,
    check_output_name,
    check_output_roots,
    output_roots,
)

SAMPLERS = ("tpe", "random", "nsga2")
# What a trial may be scored on, and which way is better: its run's selected validation
# accuracy, and the seconds its epochs took (`RunRecord.train_seconds`).
OBJECTIVES = {"accuracy": "maximize", "seconds": "minimize"}
PRUNERS = ("percentile", "median", "halving", "none")
DEFAULT_PRUNER = "percentile"
HEARTBEAT_SECONDS = 60  # a killed worker's trial is failed 2 heartbeats after its last
MAX_RETRY = 2  # times a failed (killed) trial is queued again
SCHEMA_ATTEMPTS = 3  # tries to open a storage whose tables another worker is creating
STUDIES_FOLDER = "sweeps"  # under RESULTS_PATH: one folder per study, holding its SQLite file
POSTGRES_DRIVER = "postgresql+psycopg"
STORAGE_FORMS = (
    "sqlite:///PATH/study.db, postgresql://USER:PASSWORD@HOST:PORT/DATABASE or "
    "postgresql+psycopg://USER:PASSWORD@HOST:PORT/DATABASE"
)
CONNECT_TIMEOUT_SECONDS = 10
TRIAL_NAME_ROOM = f"-trial99999-{MAX_SUFFIX}"  # what a trial's run name adds to its study's


def check_study_name(name: str) -> str:
    """`name` when it is a plain folder name short enough for its trials' run names
    (`<study>-trial<N>`, with a suffix where that is taken); a ValueError otherwise.

    Example: `check_study_name("lr")` -> `"lr"`; `check_study_name("a/b")` raises."""
    check_output_name(name, "--study")
    longest = MAX_NAME_LENGTH - len(TRIAL_NAME_ROOM)
    if len(name) > longest:
        raise ValueError(f"--study must be at most {longest} characters: its trials' runs are "
                         f"named <study>-trial<N>, and a run name at most {MAX_NAME_LENGTH}. "
                         f"Received: --study {name} ({len(name)} characters)")
    return name


def default_storage_url(study: str) -> str:
    """`sqlite:///RESULTS_PATH/sweeps/<study>/study.db`; `study` must be a plain folder name.

    Example: `default_storage_url("lr")` -> `"sqlite:////repo/results/sweeps/lr/study.db"`."""
    check_study_name(study)
    folder = output_roots(("RESULTS_PATH",))["RESULTS_PATH"] / STUDIES_FOLDER / study
    return f"sqlite:///{folder / 'study.db'}"


def storage_url(url: str | None, study: str) -> str:
    """The storage URL `--storage` names, or the study's SQLite file when none; `postgresql://`
    gets the psycopg driver this project installs. Any other form is refused.

    Example: `storage_url("postgresql://me@db/sweeps", "lr")` ->
    `"postgresql+psycopg://me@db/sweeps"`."""
    if url is None:
        return default_storage_url(study)
    try:
        parsed = make_url(url)
    except sqlalchemy.exc.ArgumentError as error:
        raise _storage_error(url, "not a database URL") from error
    if parsed.drivername == "postgresql":
        return parsed.set(drivername=POSTGRES_DRIVER).render_as_string(hide_password=False)
    if parsed.drivername not in ("sqlite", POSTGRES_DRIVER):
        raise _storage_error(url, f"unknown scheme {parsed.drivername!r}")
    if parsed.drivername == "sqlite" and not parsed.database:
        raise _storage_error(url, "no database file")
    return url


def _storage_error(url: str, problem: str) -> ValueError:
    shown = _shown(url)
    return ValueError(f"--storage must be one of {STORAGE_FORMS} ({problem}). "
                      f"Received: --storage {shown}")


def _shown(url: str) -> str:
    """`url` with its password hidden, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sqlalchemy.exc.ArgumentError:
        return url


def create_sqlite_folder(url: str) -> None:
    """Creates the folder of a SQLite storage file through the output-folder gate (its root
    checked writable first); other storages need no folder. A folder that cannot be made or
    written is refused naming the URL."""
    parsed = make_url(url)
    if parsed.drivername != "sqlite":
        return
    folder = Path(parsed.database).parent
    try:
        check_output_roots({"the --storage folder": folder})
    except PermissionError as error:
        reason = getattr(error.__cause__, "strerror", None) or "not writable"
        raise _folder_error(url, folder, reason) from error


def check_sqlite_folder(url: str) -> None:
    """Refuses a SQLite storage whose folder could not be made, leaving nothing behind (for
    --dry-run): a temporary folder is made and removed in the nearest folder that exists."""
    parsed = make_url(url)
    if parsed.drivername != "sqlite":
        return
    folder = Path(parsed.database).absolute().parent
    existing = next(path for path in (folder, *folder.parents) if path.exists())
    try:
        # Made, not judged by its permissions: root may write everywhere but in /proc.
        Path(tempfile.mkdtemp(prefix=".sweep-probe-", dir=existing)).rmdir()
    except OSError as error:
        raise _folder_error(url, folder, error.strerror or "not writable") from error


def _folder_error(url: str, folder: Path, reason: str) -> ValueError:
    return ValueError(f"Cannot make the study storage {_shown(url)}: its folder {folder} cannot "
                      f"be made or written ({reason}). Name a file in a writable folder "
                      f"(sqlite:///PATH/study.db), or leave --storage out for "
                      f"RESULTS_PATH/{STUDIES_FOLDER}/<study>/study.db. Received: --storage "
                      f"{_shown(url)}")


def check_reachable(url: str) -> None:
    """Connects to a PostgreSQL storage and disconnects, writing nothing (for --dry-run); a
    server that cannot be reached is refused naming the URL."""
    if make_url(url).drivername != POSTGRES_DRIVER:
        return
    engine = sqlalchemy.create_engine(url, **_engine_kwargs(url))
    try:
        with engine.connect():
            pass
    except sqlalchemy.exc.SQLAlchemyError as error:
        raise _unreachable(url, error) from error
    finally:
        engine.dispose()


def _unreachable(url: str, error: Exception) -> ValueError:
    reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
    return ValueError(f"Cannot open the study storage {_shown(url)} ({reason}). Start the "
                      f"server or fix the URL; --storage takes {STORAGE_FORMS}. "
                      f"Received: --storage {_shown(url)}")


def _engine_kwargs(url: str) -> dict:
    if make_url(url).drivername == POSTGRES_DRIVER:
        return {"connect_args": {"connect_timeout": CONNECT_TIMEOUT_SECONDS}}
    return {"connect_args": {"timeout": 60}}  # seconds a SQLite writer waits for a lock


def open_storage(url: str, heartbeat: int = HEARTBEAT_SECONDS) -> optuna.storages.RDBStorage:
    """The storage at `url` with a heartbeat every `heartbeat` seconds: a trial whose worker
    stopped beating for two heartbeats is failed and queued again, up to `MAX_RETRY` times.

    Example: `open_storage("sqlite:////tmp/s/study.db", heartbeat=60)`."""
    create_sqlite_folder(url)
    for attempt in range(1, SCHEMA_ATTEMPTS + 1):
        try:
            return optuna.storages.RDBStorage(
                url,
                engine_kwargs=_engine_kwargs(url),
                heartbeat_interval=heartbeat,
                grace_period=2 * heartbeat,
                heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(
                    max_retry=MAX_RETRY
                ),
            )
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError) as error:
            # Workers started together on an empty database create its tables at once, and
            # all but one fail on PostgreSQL's catalog ("duplicate key value"); by the next
            # attempt the tables exist.
            if attempt == SCHEMA_ATTEMPTS:
                raise _unreachable(url, error) from error
            time.sleep(attempt)
        except sqlalchemy.exc.SQLAlchemyError as error:
            raise _unreachable(url, error) from error


def draw_seed() -> int:
    """A fresh seed for this process's sampler: workers started with the same command, and a
    rerun of it, draw settings of their own instead of replaying each other's."""
    return secrets.randbelow(2**31)


def make_sampler(name: str, seed: int) -> optuna.samplers.BaseSampler:
    """`tpe` (Tree-structured Parzen Estimator; over several objectives too), `random` or
    `nsga2` (the genetic NSGA-II, for several objectives over many trials: its generations
    are 50 trials), seeded with `seed`.

    TPE takes a trial still running in another worker as a poor result until it ends
    (`constant_liar`), so that parallel workers do not draw next to each other.

    Example: `make_sampler("tpe", seed=draw_seed())`."""
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, constant_liar=True)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    raise ValueError(f"--sampler must be one of {', '.join(SAMPLERS)}. Received: --sampler {name}")


def parse_objectives(text: str) -> tuple[str, ...]:
    """`--objectives`: `accuracy` (one objective), or `accuracy,seconds` (validation accuracy
    against training seconds: a Pareto front of trials).

    Example: `parse_objectives("accuracy,seconds")` -> `("accuracy", "seconds")`."""
    names = tuple(name.strip() for name in text.split(","))
    if names not in (("accuracy",), tuple(OBJECTIVES)):
        raise ValueError(f"--objectives must be accuracy or {','.join(OBJECTIVES)} (validation "
                         f"accuracy first, then training seconds). Received: --objectives {text}")
    return names


def make_pruner(name: str, epochs: int) -> optuna.pruners.BasePruner:
    """A pruner for trials of `epochs` epochs that judges them from the middle of the run on.

    `percentile` (the default) stops a trial in the bottom quarter of the completed trials at
    the same epoch: a clearly losing one. `median` stops one below their median, `halving` is
    successive halving, `none` never stops a trial. Each waits for 5 completed trials. Why not
    earlier: in the first epochs the one-cycle schedule is still warming up, and strong
    augmentation learns more slowly at first; a median pruner from epoch 2 stopped 7 of the 8
    trials after its first 5 in the study `augmentation-default` (docs/search.md), at epoch 2,
    by differences of 0.01. And the completed trials are the survivors, so their median is
    above that of all trials: a median pruner stops more than half.

    Example: `make_pruner("percentile", epochs=10)`."""
    warmup = max(1, math.ceil(epochs / 2))
    if name == "percentile":
        # Optuna's percentile is the share kept: 75 keeps the top three quarters.
        return optuna.pruners.PercentilePruner(75.0, n_startup_trials=5, n_warmup_steps=warmup)
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=warmup)
    if name == "halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=warmup)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise ValueError(f"--pruner must be one of {', '.join(PRUNERS)}. Received: --pruner {name}")


def load_study(name: str, storage, sampler, pruner, create: bool = True,
               objectives: tuple[str, ...] = ("accuracy",)) -> optuna.Study:
    """The study `name` in `storage`, created the first time when `create`, continued after:
    maximizing the validation accuracy of the weights each trial's run selects, and with
    `seconds` among the `objectives` (`OBJECTIVES`) minimizing its training seconds too.
    Without `create`, a study not there is refused, naming the storage.

    Example: `load_study("lr", open_storage(url), make_sampler("tpe", 0), make_pruner("none"))`."""
    check_study_name(name)
    if not create:
        try:
            return optuna.load_study(study_name=name, storage=storage, sampler=sampler,
                                     pruner=pruner)
        except KeyError as error:
            raise ValueError(f"No study {name!r} in {_shown(storage.url)}: run its trials first "
                             f"(--trials N), or name the study's --storage. Received: --study "
                             f"{name}") from error
    return optuna.create_study(
        study_name=name,
        storage=storage,
        directions=[OBJECTIVES[objective] for objective in objectives],
        load_if_exists=True,
        sampler=sampler,
        pruner=pruner,
    )


def counts_toward_total(trial: optuna.trial.FrozenTrial) -> bool:
    """Whether `trial` is one of the study's `--trials`: completed, pruned (an invalid
    configuration included), running, or failed by its own run (`fail_reason`). A trial stopped
    from outside, by a killed worker (then queued again with its settings) or by Ctrl-C, is
    not: the settings it was given are still owed."""
    state = trial.state
    if state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING):
        return True
    return state == TrialState.FAIL and "fail_reason" in trial.user_attrs


def counted_trials(study: optuna.Study) -> int:
    """The study's trials that count toward its total (`counts_toward_total`), whichever
    worker ran them; a killed worker's stale trial is failed first, so it is not counted as
    running."""
    optuna.storages.fail_stale_trials(study)
    return sum(map(counts_toward_total, study.get_trials(deepcopy=False)))


class StudyTotal:
    """A callback that stops this worker once the study holds `total` counted trials
    (`counted_trials`), so `--trials` is the study's total across workers and reruns.
    `optuna.study.MaxTrialsCallback` counts by state alone: it would count the failed trial of a
    killed worker beside its retry, and not the trials other workers are running, so two
    workers would each start one more after the total is reached.

    Example: `study.optimize(objective, callbacks=[StudyTotal(20)])`."""

    def __init__(self, total: int):
        self.total = total

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if counted_trials(study) >= self.total:
            study.stop()


def enqueue_base(study: optuna.Study, params: dict) -> bool:
    """Queues `params` (the base configuration's values of the searched settings) as the
    study's first trial, so that every study holds its baseline; only while the study has no
    trial, and not twice (two workers starting together). Returns whether it queued.

    Example: `enqueue_base(study, {"optimizer.lr": 0.003})`."""
    if not params:
        return False
    # Workers started by one command reach this together; between one's look at the study and
    # its enqueueing, the other can do both and the baseline is queued twice. A random wait of
    # up to a second first spreads them apart (it narrows the race, the storage has no lock).
    time.sleep(secrets.randbelow(1000) / 1000)
    if study.get_trials(deepcopy=False):
        return False
    study.enqueue_trial(params, user_attrs={"base": True}, skip_if_exists=True)
    return True


def record_command(study: optuna.Study, space: str, command: str) -> None:
    """Keeps how the study's space was named when it was created and the command that ran it
    last (its password hidden), so the study describes itself in the docs (`search.report`)
    without its command line; what it searches is its contract (`search.contract`).

    Example: `record_command(study, "augmentation", "python sweep.py --study aug ...")`."""
    if "space" not in study.user_attrs:
        study.set_user_attr("space", space)
    study.set_user_attr("command", command)


def scores_text(trial: optuna.trial.FrozenTrial) -> str:
    """A trial's validation accuracy, and its training seconds in a study of both: `0.9012`,
    `0.9012 in 61 s`, or `-` without a value.

    Example: `scores_text(study.best_trial)` -> `"0.9012"`."""
    if trial.values is None:
        return "-"
    accuracy, *seconds = trial.values
    return f"{accuracy:.4f}" + "".join(f" in {value:.0f} s" for value in seconds)


def shown_command(argv: list[str]) -> str:
    """`python sweep.py ARGS` as the study keeps it, with a storage URL's password hidden.

    Example: `shown_command(["--storage", "postgresql://me:pw@db/s"])` ->
    `"python sweep.py --storage 'postgresql://me:***@db/s'"`."""
    def shown(arg: str) -> str:
        flag = "--storage=" if arg.startswith("--storage=") else ""
        url = arg.removeprefix(flag)
        return flag + (_shown(url) if "://" in url else url)

    return shlex.join(["python", "sweep.py", *map(shown, argv)])
