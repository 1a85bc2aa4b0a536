"""Search settings of a preset with Optuna; each trial is an ordinary run, chosen on validation.

python sweep.py --study aug --space augmentation --trials 20      # SQLite under RESULTS_PATH
python sweep.py --study aug --space augmentation --trials 40      # again: to 40 in all
python sweep.py --study recipe --space recipe --preset fast-cnn --set schedule.epochs=5
python sweep.py --study speed --space speed --trial-budget 180 --trials 10
python sweep.py --study aug --space augmentation --storage postgresql://me:pw@db:5432/sweeps
python sweep.py --study aug --space augmentation --trials 0 --export-preset default-aug
python sweep.py --study fast --space speed --objectives accuracy,seconds --trials 30
python sweep.py --study fast --space speed --objectives accuracy,seconds --trials 0 \
    --export-preset default-fast --trial 12                     # a point of the Pareto front
python sweep.py --study aug --space augmentation --dry-run       # print, check, write nothing
"""

import argparse
import sys
import warnings
from dataclasses import dataclass

from quiet_tensorflow import import_tensorflow
from search.export import chosen_trial, export_path, export_preset
from search.space import SearchSpace, base_params, check_space, read_space, space_path
from search.study import (
    DEFAULT_PRUNER,
    HEARTBEAT_SECONDS,
    OBJECTIVES,
    PRUNERS,
    SAMPLERS,
    check_reachable,
    check_sqlite_folder,
    check_study_name,
    draw_seed,
    make_pruner,
    make_sampler,
    parse_objectives,
    scores_text,
    shown_command,
    storage_url,
)
from training.config import ExperimentConfig
from training.presets import DEFAULT_PRESET, checked, compose, parse_override, preset_path

DEFAULT_TRIALS = 10


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Search settings of a preset with Optuna. Each trial trains an ordinary run "
        "(named <study>-trial<N>) on the training split, is scored on validation and never "
        "reads the test set. Rerunning the command continues the study.",
    )
    parser.add_argument("--study", required=True, metavar="NAME",
                        help="the study's name: its runs' prefix and its SQLite folder")
    parser.add_argument("--preset", default=DEFAULT_PRESET, metavar="BASE",
                        help=f"the preset every trial starts from (default: {DEFAULT_PRESET})")
    parser.add_argument("--space", default="augmentation", metavar="FILE",
                        help="a search space file, or a shipped space: augmentation, recipe, speed "
                        "(default: augmentation)")
    parser.add_argument("--set", metavar="SECTION.KEY=VALUE", action="append", default=[],
                        dest="overrides", help="a setting fixed for every trial, e.g. --set "
                        "schedule.epochs=3; repeatable")
    parser.add_argument("--trials", type=int, default=None, metavar="N",
                        help="the study's total trials, whichever worker or rerun runs them: a "
                        "command runs what is missing (default: "
                        f"{DEFAULT_TRIALS}, or as many as --timeout allows)")
    parser.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                        help="start no trial after this many seconds")
    parser.add_argument("--trial-budget", type=float, default=None, metavar="SECONDS",
                        help="seconds of training a trial may take: one whose epochs so far say "
                        "it would run past them stops there, as pruned (default: none)")
    parser.add_argument("--storage", default=None, metavar="URL",
                        help="sqlite:///PATH or postgresql[+psycopg]://USER:PASSWORD@HOST:PORT/DB; "
                        "default: sqlite:///RESULTS_PATH/sweeps/<study>/study.db")
    parser.add_argument("--sampler", choices=SAMPLERS, default="tpe",
                        help="how trials draw their settings (default: tpe)")
    parser.add_argument("--pruner", choices=PRUNERS, default=DEFAULT_PRUNER,
                        help="how clearly losing trials are stopped, from the middle of the "
                        "base preset's epochs on (default: percentile, the bottom quarter)")
    parser.add_argument("--seed", type=int, default=None,
                        help="the sampler's seed, to draw the same settings again in one "
                        "process (default: a fresh seed per process, printed and kept in each "
                        "trial's user attributes)")
    parser.add_argument("--heartbeat", type=int, default=HEARTBEAT_SECONDS, metavar="SECONDS",
                        help="a running trial's heartbeat; a trial silent for two is failed and "
                        f"retried (default: {HEARTBEAT_SECONDS})")
    parser.add_argument("--keep-checkpoints", action="store_true",
                        help="keep each trial's checkpoints (removed by default)")
    parser.add_argument("--objectives", default="accuracy", metavar="NAMES",
                        help="what trials are scored on: accuracy (validation accuracy, "
                        "maximized), or accuracy,seconds (and training seconds, minimized: a "
                        "Pareto front of trials; no pruner judges them) (default: accuracy)")
    parser.add_argument("--export-preset", metavar="NAME", default=None,
                        help="at the end, write the best trial (or --trial N) as "
                        "presets/NAME.toml over the study's base preset, with the settings it "
                        "fixed and searched (never over an existing preset)")
    parser.add_argument("--trial", type=int, default=None, metavar="N",
                        help="the trial --export-preset writes: any completed one, such as a "
                        "point of a Pareto front (default: the best on validation)")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the space and the storage, check everything, write nothing")
    return parser


@dataclass
class Plan:
    """What the command line asks for, checked before any trial starts."""

    space: SearchSpace
    fixed: dict
    storage: str
    base: ExperimentConfig  # the base preset with the fixed settings, resolved and validated
    budget: float | None = None  # training seconds per trial (--trial-budget)
    objectives: tuple[str, ...] = ("accuracy",)


def prepare(args: argparse.Namespace) -> Plan:
    """Checks every argument (a ValueError names the first problem) and returns the plan."""
    import_tensorflow()  # resolving a configuration probes the hardware
    check_study_name(args.study)
    preset_path(args.preset)
    space = read_space(space_path(args.space))
    fixed = dict(map(parse_override, args.overrides))
    base = checked(compose(preset=args.preset, overrides=fixed))
    check_space(space, args.preset, fixed)
    objectives = parse_objectives(args.objectives)
    for flag, value, minimum in (("--trials", args.trials, 0), ("--heartbeat", args.heartbeat, 1),
                                 ("--trial", args.trial, 0)):
        if value is not None and value < minimum:
            raise ValueError(f"{flag} must be >= {minimum}. Received: {flag} {value}")
    for flag, value in (("--timeout", args.timeout), ("--trial-budget", args.trial_budget)):
        if value is not None and value <= 0:
            raise ValueError(f"{flag} must be > 0 seconds. Received: {flag} {value}")
    if args.export_preset is not None:
        export_path(args.export_preset)
        if len(objectives) > 1 and args.trial is None:
            raise ValueError("A study of several objectives has no one best trial: run its "
                             "trials, then export the point of its Pareto front you choose with "
                             "--trials 0 --export-preset NAME --trial N. Received: "
                             f"--objectives {args.objectives} --export-preset "
                             f"{args.export_preset} without --trial")
    elif args.trial is not None:
        raise ValueError(f"--trial names the trial --export-preset writes: add --export-preset "
                         f"NAME. Received: --trial {args.trial} without --export-preset")
    return Plan(space, fixed, storage_url(args.storage, args.study), base, args.trial_budget,
                objectives)


def plan_text(args, plan: Plan) -> str:
    """The space, the fixed settings and the storage, as --dry-run prints them."""
    fixed = " ".join(f"--set {key}={value!r}" for key, value in plan.fixed.items()) or "none"
    budget = "none" if plan.budget is None else f"{plan.budget:g} s of training"
    scored = " against ".join(f"{name} ({OBJECTIVES[name]}d)" for name in plan.objectives)
    return "\n".join([
        plan.space.describe(),
        f"# base preset: {args.preset}; fixed: {fixed}; budget per trial: {budget}",
        f"# objectives: {scored}",
        f"# study {args.study!r} in {plan.storage}",
    ])


def print_trial(study, trial) -> None:
    """One line per finished trial: number, state, value, epochs and its run folder, and why
    an invalid or failed one did not train."""
    epochs = trial.user_attrs.get("epochs_run", "-")
    folder = trial.user_attrs.get("run_dir", "-")
    line = (f"trial {trial.number}: {trial.state.name.lower()}, value {scores_text(trial)}, "
            f"{epochs} epoch(s), {folder}")
    for reason in ("invalid", "fail_reason"):
        if reason in trial.user_attrs:
            line += f" ({reason.replace('_', ' ')}: {trial.user_attrs[reason]})"
    print(line, flush=True)


def study_total(args) -> int | None:
    """The study's total trials: --trials, the default without --timeout, none with it."""
    if args.trials is not None:
        return args.trials
    return None if args.timeout else DEFAULT_TRIALS


def run_trials(args, plan: Plan, command: str):
    """Creates or continues the study and runs the trials it still lacks; returns the study.
    A new study stores its contract (`search.contract`), which a command that continues it
    must match, and `command`."""
    import optuna

    from data import load_fashion_mnist
    from search.contract import Contract, keep_contract
    from search.objective import Objective, RunFailed
    from search.study import (
        StudyTotal,
        counted_trials,
        enqueue_base,
        load_study,
        open_storage,
        record_command,
    )

    # Each trial prints its own line (`print_trial`), with why it failed; Optuna's warnings
    # would add a traceback for a failed run, and for Ctrl-C before the message that ends it.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    seed = draw_seed() if args.seed is None else args.seed
    total = study_total(args)
    # Optuna's pruners judge one objective: trials of several are stopped by the budget alone.
    pruner = args.pruner if len(plan.objectives) == 1 else "none"
    study = load_study(args.study, open_storage(plan.storage, args.heartbeat),
                       make_sampler(args.sampler, seed),
                       make_pruner(pruner, plan.base.schedule.epochs), create=total != 0,
                       objectives=plan.objectives)
    contract = Contract.of(args.preset, plan.fixed, plan.space, plan.budget, plan.base,
                           plan.objectives)
    keep_contract(study, contract, running=total != 0)
    if total == 0:
        return study
    record_command(study, args.space, command)
    missing = None if total is None else total - counted_trials(study)
    if missing is not None and missing <= 0:
        print(f"Study {args.study} holds its {total} trials; raise --trials to run more.")
        return study
    enqueue_base(study, base_params(plan.space, plan.base))
    print(f"Sampler {args.sampler}, seed {seed} (--seed {seed} draws the same settings again).",
          flush=True)
    objective = Objective(args.study, args.preset, plan.space, plan.fixed,
                          load_fashion_mnist(with_test=False), args.keep_checkpoints,
                          budget_seconds=plan.budget, sampler_seed=seed,
                          objectives=plan.objectives)
    stop = [] if total is None else [StudyTotal(total)]
    study.optimize(objective, n_trials=missing, timeout=args.timeout, catch=(RunFailed,),
                   callbacks=[print_trial, *stop])
    return study


def best_text(study) -> str:
    """The best trial, or with several objectives the Pareto front, best accuracy first."""
    from optuna.trial import TrialState

    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return f"Study {study.study_name}: {len(study.trials)} trials, none completed yet."
    head = f"Study {study.study_name}: {len(study.trials)} trials."
    if len(study.directions) > 1:
        front = sorted(study.best_trials, key=lambda trial: (-trial.values[0], trial.number))
        points = "; ".join(f"trial {trial.number}: {scores_text(trial)}" for trial in front)
        return (f"{head} Pareto front (validation accuracy, training seconds): {points}. "
                f"Export one with --trials 0 --export-preset NAME --trial N.")
    best = study.best_trial
    params = ", ".join(f"{key}={value!r}" for key, value in best.params.items())
    return (f"{head} Best: trial {best.number}, validation accuracy {best.value:.4f} "
            f"({params}), {best.user_attrs.get('run_dir')}")


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        plan = prepare(args)
        if args.dry_run:
            check_reachable(plan.storage)
            check_sqlite_folder(plan.storage)
            print(plan_text(args, plan))
            return 0
        argv = sys.argv[1:] if argv is None else argv
        study = run_trials(args, plan, shown_command(argv))
    except ValueError as error:
        parser.error(str(error))
    except KeyboardInterrupt:
        print("\nInterrupted; rerun the command to continue the study.", file=sys.stderr)
        return 130
    print(best_text(study))
    if args.export_preset is not None:
        try:
            path = export_preset(study, args.export_preset, chosen_trial(study, args.trial))
        except ValueError as error:
            parser.error(str(error))
        print(f"Wrote {path}; train it with: python train.py --preset {args.export_preset}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
