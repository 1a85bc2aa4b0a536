"""What a study is: its base preset, the configuration that preset composed with the fixed
settings, its space's knobs, its objectives and its training budget per trial, stored in the
study's user attributes when it is created. Its trials compare only under one contract, so a
command that continues the study, or exports from it, with other ones is refused, naming each
difference.

Example:

```python
contract = Contract.of("default", {"schedule.epochs": 3}, space, budget=None)
keep_contract(study, contract, running=True)   # stores it, or checks it against the stored one
```
"""

import json
from dataclasses import asdict, dataclass

import optuna

from search.space import Knob, SearchSpace
from training.config import SECTION_KEYS, ExperimentConfig
from training.presets import compose


def plain(value):
    """`value` as a study's storage gives it back (JSON: tuples become lists), so that what
    was stored and what a command composes compare."""
    return json.loads(json.dumps(value))


@dataclass(frozen=True)
class Contract:
    """A study's contract (see the module's docstring).

    Args:
        preset: the base preset's name.
        fixed: the `--set` overrides, `{section.key: value}`.
        knobs: the space's knobs, each as a dict (`search.space.Knob`'s fields).
        base: the configuration every trial starts from, the preset with the fixed settings,
            as composed: not resolved, as the rules and the hardware fill it in on each
            machine (a GPU worker's batch size is not a CPU worker's).
        budget: training seconds per trial, or None.
        base_resolved: `base` resolved where the study was created, kept beside the contract
            for the report (the base's learning rate, say), not compared.
        objectives: what its trials are scored on (`search.study.OBJECTIVES`).
    """

    preset: str
    fixed: dict
    knobs: list
    base: dict
    budget: float | None = None
    base_resolved: dict | None = None
    objectives: tuple[str, ...] = ("accuracy",)

    @classmethod
    def of(cls, preset: str, fixed: dict, space: SearchSpace, budget: float | None = None,
           resolved: ExperimentConfig | None = None,
           objectives: tuple[str, ...] = ("accuracy",)) -> "Contract":
        """The contract a command asks for; `resolved`, the base as this machine resolves
        it."""
        base = compose(preset=preset, overrides=fixed).config.without_labels().to_dict()
        shown = None if resolved is None else plain(resolved.without_labels().to_dict())
        return cls(preset, plain(fixed), plain([asdict(knob) for knob in space.knobs]),
                   plain(base), budget, shown, tuple(objectives))

    def attrs(self) -> dict:
        """The study user attributes that store it."""
        return {"preset": self.preset, "fixed": self.fixed, "space_knobs": self.knobs,
                "trial_budget_seconds": self.budget, "base": self.base,
                "base_resolved": self.base_resolved, "objectives": list(self.objectives)}


def differences(stored: dict, contract: Contract, running: bool) -> list[str]:
    """Where `contract` differs from the one `stored` in a study's user attributes, each as
    `what: X in the study, Y in this command`. The budget and the base configuration matter
    only to a command that runs trials (`running`): an export reads the study's own. An
    attribute a study made before contracts were stored is not compared."""
    asked = contract.attrs()
    found = []
    objectives = stored.get("objectives", ["accuracy"])  # a study older than them has one
    if "preset" in stored and objectives != asked["objectives"]:
        found.append(f"--objectives: {','.join(objectives)} in the study, "
                     f"{','.join(asked['objectives'])} in this command")
    if "preset" in stored and stored["preset"] != asked["preset"]:
        found.append(f"--preset: {stored['preset']} in the study, {asked['preset']} in this "
                     "command")
    if "fixed" in stored:
        found += _changed("--set ", plain(stored["fixed"]), asked["fixed"])
    if "space_knobs" in stored:
        found += _knob_changes(stored["space_knobs"], asked["space_knobs"])
    if running and "base" in stored:
        if stored.get("trial_budget_seconds") != asked["trial_budget_seconds"]:
            found.append(f"--trial-budget: {stored.get('trial_budget_seconds')} in the study, "
                         f"{asked['trial_budget_seconds']} in this command")
        changed = _changed("", _by_key(stored["base"]), _by_key(asked["base"]))
        if changed and not any(line.startswith("--") for line in found):
            found.append(f"preset {contract.preset}'s configuration, changed since the study "
                         f"was created: {'; '.join(changed)}")
    return found


def _by_key(config: dict) -> dict:
    """A flat configuration by `section.key`."""
    return {SECTION_KEYS.get(name, name): value for name, value in config.items()}


def _changed(prefix: str, before: dict, after: dict) -> list[str]:
    unset = "not set"
    return [f"{prefix}{key}: {before.get(key, unset)!r} in the study, "
            f"{after.get(key, unset)!r} in this command"
            for key in sorted(set(before) | set(after)) if before.get(key) != after.get(key)]


def _knob_changes(before: list, after: list) -> list[str]:
    old = {knob["key"]: knob for knob in before}
    new = {knob["key"]: knob for knob in after}

    def shown(knob: dict | None) -> str:
        if knob is None:
            return "not searched"
        line = Knob(**{**knob, "choices": tuple(knob["choices"])}).describe()
        return line.split(maxsplit=1)[1]  # without the key

    return [f"[{key}] of the space: {shown(old.get(key))} in the study, "
            f"{shown(new.get(key))} in this command"
            for key in [*old, *(key for key in new if key not in old)]
            if old.get(key) != new.get(key)]


def keep_contract(study: optuna.Study, contract: Contract, running: bool) -> None:
    """Refuses a command whose contract differs from the study's, naming each difference and
    the study's command, before it writes anything; a command that runs trials (`running`)
    stores `contract` in a study that has none yet (a new one, or one made before contracts
    were kept, whose trials cannot be checked).

    Example: `keep_contract(study, Contract.of("default", {}, space), running=True)`."""
    stored = study.user_attrs
    found = differences(stored, contract, running)
    if found:
        command = stored.get("command")
        rerun = f" (its command: {command})" if command else ""
        raise ValueError(
            f"Study {study.study_name!r} keeps the settings it was created with, so that its "
            f"trials compare: rerun with them{rerun}, or name a new --study. Received: "
            + "; ".join(found))
    if running and "base" not in stored:
        for key, value in contract.attrs().items():
            if value is not None:
                study.set_user_attr(key, value)
