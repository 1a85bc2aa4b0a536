"""Did a specialist help? Each combination of a generalist with a specialist (`evaluation.
specialist`) against its generalist alone, on the test set: accuracy, McNemar's paired test,
the recall of the group's classes, the confusion block of the group before and after, and what
the specialist costs (parameters, training time, the images it is consulted on, its latency
where `export.py` measured it).

The original repository's README ended on the question: "Seems like tops are mistaken with
shirts quite often. Maybe another classifier can be trained to differentiate between these two
classes and be used with the selected model." This module answers it from the records.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix

from data.fashion_mnist import CLASS_NAMES
from evaluation.specialist import consulted_rows
from evaluation.statistics import McNemarResult, mcnemar
from records.predictions import PredictedRuns
from records.reader import COMBINATION, changes_nothing
from reporting.comparisons import SIGNIFICANCE, format_p_value
from reporting.plots import before_after_figure
from reporting.tables import format_duration, markdown_link, markdown_table, relative_link

FIGURE = "specialist.png"
RECALL_TARGET_CLASS = "Shirt"  # the class the original question is about
RECALL_TARGET_GAIN = 0.03  # the gain in its recall that would count as a help


@dataclass(frozen=True)
class Combination:
    """A combination's record, its generalist's and specialist's, and their test predictions.

    Args:
        record: the combination's record (`"kind": "combination"`).
        generalist: the generalist's record.
        specialist: the specialist's record, None when it is not among the records.
        before, after: test probabilities of the generalist and of the combination (N x 10).
        labels: the test labels.
    """

    record: dict
    generalist: dict
    specialist: dict | None
    before: np.ndarray
    after: np.ndarray
    labels: np.ndarray

    @property
    def group(self) -> list[int]:
        return list(self.record["group"]["labels"])

    def paired_test(self) -> McNemarResult:
        """McNemar's test, the combination first, the generalist second."""
        return mcnemar(self.after.argmax(1) == self.labels, self.before.argmax(1) == self.labels)

    def recall(self, class_name: str) -> tuple[float, float]:
        """The recall of `class_name` before and after, as the record holds it."""
        recall = self.record["per_class_recall"]
        return recall["before"][class_name], recall["after"][class_name]

    def block(self, probabilities: np.ndarray) -> np.ndarray:
        """The confusion matrix restricted to the group's rows and columns."""
        matrix = confusion_matrix(self.labels, probabilities.argmax(1),
                                  labels=range(len(CLASS_NAMES)))
        return matrix[np.ix_(self.group, self.group)]

    def consulted_share(self) -> float:
        """The share of test images on which the chosen method asks the specialist (none for a
        mixture that gives it no weight)."""
        if self.record["weight"] == 0:
            return 0.0
        rows = consulted_rows(self.before, self.group, self.record["method"])
        return float(rows.mean())

    def generalist_group_accuracy(self) -> float:
        """The generalist's accuracy on the test images of the group when it, too, may only
        answer with the group's classes: what the specialist alone is to beat."""
        in_group = np.isin(self.labels, self.group)
        chosen = np.asarray(self.group)[self.before[in_group][:, self.group].argmax(1)]
        return float(np.mean(chosen == self.labels[in_group]))


def combinations(records: list[dict], predicted: PredictedRuns) -> list[Combination]:
    """The combinations whose own and generalist's test predictions were read, in the
    ranking's order (best test accuracy first)."""
    by_name = {record["run_name"]: record for record in records}
    found = []
    for record in predicted.records:
        generalist = by_name.get(record.get("generalist"))
        if (record.get("kind") != COMBINATION or generalist is None
                or record.get("generalist") not in predicted.probabilities):
            continue
        found.append(Combination(
            record, generalist, by_name.get(record["specialist"]),
            predicted.probabilities[record["generalist"]],
            predicted.probabilities[record["run_name"]], predicted.test_set.labels,
        ))
    return found


def _method(record: dict) -> str:
    weight = record["weight"]
    return record["method"] + ("" if weight is None else f" w={weight:.1f}")


def combinations_table(found: list[Combination], results_dir: Path, base_dir: Path) -> str:
    """One row per combination: generalist, method chosen on validation, validation and test
    accuracy before -> after, the paired test and the recall of the target class."""
    rows, index = [], []
    for combination in found:
        record, test = combination.record, combination.paired_test()
        before, after = combination.recall(RECALL_TARGET_CLASS)
        index.append(markdown_link(record["run_name"],
                                   Path(results_dir) / record["run_name"] / "result.json",
                                   base_dir))
        rows.append([
            f"`{record['generalist']}`", _method(record),
            f"{record['generalist_val_accuracy']:.4f} -> {record['val_accuracy']:.4f}",
            f"{record['generalist_test_accuracy']:.4f} -> {record['test_accuracy']:.4f}",
            f"{test.only_first_right} / {test.only_second_right}",
            format_p_value(test.p_value),
            f"{before:.3f} -> {after:.3f} ({after - before:+.3f})",
        ])
    columns = ("Generalist", "Chosen on validation", "Val acc", "Test acc",
               "Only combined right / only generalist right", "p-value",
               f"{RECALL_TARGET_CLASS} recall")
    frame = pd.DataFrame(rows, index=pd.Index(index, name="Combination"), columns=columns)
    return markdown_table(frame, right_aligned=columns[2:])


def verdict(combination: Combination) -> str:
    """One sentence: whether the combination met the target (recall of the target class up by
    `RECALL_TARGET_GAIN`, test accuracy not lower) and whether the test set can tell it from
    its generalist."""
    record, test = combination.record, combination.paired_test()
    before, after = combination.recall(RECALL_TARGET_CLASS)
    change = record["test_accuracy"] - record["generalist_test_accuracy"]
    gain = after - before
    real = test.p_value <= SIGNIFICANCE
    misses = ([] if gain >= RECALL_TARGET_GAIN else
              [f"{RECALL_TARGET_GAIN - gain:.3f} of recall"]) + (
        [] if change >= 0 else [f"{-change:.4f} of accuracy"])
    return (
        f"On `{record['generalist']}` the specialist moves test accuracy by {change:+.4f} "
        f"({test.only_first_right} images only the combination gets right, "
        f"{test.only_second_right} only the generalist; p = {format_p_value(test.p_value)}, "
        f"{'a real difference' if real else 'not a difference this test set can show'}) and "
        f"{RECALL_TARGET_CLASS.lower()} recall by {gain:+.3f}: the target "
        f"(+{RECALL_TARGET_GAIN:.2f} recall, accuracy not lower) is "
        f"{'missed by ' + ' and '.join(misses) if misses else 'met'}."
    )


def answer(found: list[Combination]) -> str:
    """The short answer: on how many generalists the specialist met the target."""
    met = [c for c in found if "is met" in verdict(c)]
    return (f"**Did a specialist help? {'Yes' if met else 'No'}**: it met the target on "
            f"{len(met)} of the {len(found)} generalists it was combined with.")


def cost_sentence(combination: Combination, results_dir: Path) -> str:
    """What the specialist adds: parameters, training time, the share of images it is asked
    about, and its latency per image where `export.py` measured it."""
    specialist, generalist = combination.specialist, combination.generalist
    if specialist is None:
        return f"The specialist `{combination.record['specialist']}` has no record here."
    params = (f" (the generalist `{generalist['run_name']}` has {generalist['params']:,})"
              if "params" in generalist else "")
    export_record = Path(results_dir) / "exports" / f"{specialist['run_name']}.json"
    if export_record.exists():
        keras_format = json.loads(export_record.read_text(encoding="utf-8"))["formats"][0]
        latency = (f"; one image through it takes {keras_format['latency_ms']['1']:.2f} ms "
                   f"(`{keras_format['format']}`, export record)")
    else:
        latency = (f"; its latency is not measured (`python export.py "
                   f"{specialist['run_name']}` measures it)")
    return (
        f"Cost: `{specialist['run_name']}` ({specialist['model']} over "
        f"{len(combination.group)} classes) adds {specialist['params']:,} parameters{params} "
        f"and {format_duration(specialist['train_seconds'])} of training on "
        f"{specialist['train_images']:,} images; the chosen method asks it about "
        f"{combination.consulted_share():.1%} of the test images{latency}."
    )


def specialist_markdown(records: list[dict], predicted: PredictedRuns, results_dir: Path,
                        images_dir: Path, base_dir: Path) -> str:
    """The answer to the original question from the combination records, or how to make one."""
    found = combinations(records, predicted)
    unchanged = no_change_sentence(records)
    if not found:
        return unchanged or (
            "No combination with predictions yet: train a specialist with `python train.py "
            "--classes shirt,t-shirt/top,pullover,coat`, then `python -m evaluation.specialist "
            "--generalist RUN --specialist SPECIALIST` writes one."
        )
    # The cost and the specialist's own accuracy are told for a single run's combination
    # where there is one: an ensemble's parameters are its members'.
    first = next((c for c in found if "params" in c.generalist), found[0])
    group = ", ".join(first.record["group"]["names"])
    alone = ("" if first.specialist is None else
             f" The specialist alone classifies {first.specialist['test_accuracy']:.4f} of the "
             f"test images of its group ({group}) right; `{first.record['generalist']}`, "
             f"allowed only those classes, {first.generalist_group_accuracy():.4f}.")
    figure = relative_link(Path(images_dir) / FIGURE, base_dir)
    return "\n\n".join([
        combinations_table(found, results_dir, base_dir),
        "The method and its weight were chosen on the validation split; the test set was "
        "scored once. McNemar's test counts the test images exactly one of the two gets right."
        + alone,
        answer(found) + " " + " ".join(verdict(combination) for combination in found)
        + (" " + unchanged if unchanged else ""),
        cost_sentence(first, results_dir),
        f"![{RECALL_TARGET_CLASS} recall and the group's confusion block before and after]"
        f"({figure})",
    ])


def no_change_sentence(records: list[dict]) -> str:
    """The combinations that changed nothing (`records.reader.changes_nothing`), named as such:
    they are no result, and neither ranked nor in the table."""
    names = [f"`{record['run_name']}` (on `{record['generalist']}`)" for record in records
             if changes_nothing(record)]
    if not names:
        return ""
    return (f"No change: {', '.join(names)}: the choice on validation gave the specialist no "
            "say, so its predictions are the generalist's and it is not counted as a result.")


def specialist_figure(found: list[Combination]):
    """`plots.before_after_figure` of each combination: its group's recall and confusion block,
    generalist alone and with the specialist."""
    names = found[0].record["group"]["names"]
    rows = [{
        "title": f"{c.record['generalist']} + {c.record['specialist']}, test set",
        "recall_before": [c.recall(name)[0] for name in names],
        "recall_after": [c.recall(name)[1] for name in names],
        "block_before": c.block(c.before), "block_after": c.block(c.after),
    } for c in found if c.record["group"]["names"] == names]
    return before_after_figure(names, rows)
