"""The default preset's network and recipe written plainly in PyTorch: the reference that
`python -m benchmarks.peer` times against `train.py --preset default` on the same machine.

It is what a PyTorch user would write for this recipe: the images as tensors in memory, a new
batch order each epoch, flips and shifts drawn per batch, `torch.autocast` in bfloat16 and
channels_last, Adam with a one-cycle `LambdaLR`, `AveragedModel` for the moving average and SWA,
and `update_bn` for their BatchNorm statistics. Its settings come from the project's
configuration (`benchmarks.peer.pytorch_recipe`), its images from the project's loader and
split, so both sides train the same recipe on the same arrays; the network mirrors
`models.fast_cnn.FastCNN` layer for layer.

`benchmarks.peer` runs it in a process of its own, by path: `python -m` would import the
`benchmarks` package, which loads TensorFlow, and this side's process holds PyTorch alone.
"""

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass, fields
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.lr_scheduler import LambdaLR
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn, update_bn

from data.fashion_mnist import load_fashion_mnist, train_val_split
from outputs.io import atomic_write_json
from records.machine import LoadMeter, cpu_facts, summarize_load, usable_cores
from training.selection import BATCHNORM_IMAGES, EVAL_BATCH_SIZE
from training.tta import tta_shifts

# training.swa's rule: BatchNorm statistics that still hold this share of their initial values
# are recomputed before the final weights are scored (short runs).
SETTLED_INITIAL_WEIGHT = 0.01
ONE_CYCLE_START = 0.1  # training.schedules.OneCycleLearningRate's first rate, of the peak


@dataclass(frozen=True)
class Recipe:
    """Every setting of the PyTorch side, in PyTorch's terms (`benchmarks.peer.pytorch_recipe`
    converts a project configuration)."""

    widths: tuple[int, ...]
    stem_width: int
    whitening_patch_size: int  # 0: a trained stem convolution
    whitening_epsilon: float
    whitening_images: int
    dirac_init: bool
    batchnorm_momentum: float  # PyTorch's convention: the weight of the new batch
    batchnorm_epsilon: float
    batchnorm_scale: bool
    num_classes: int
    lr: float
    adam_epsilon: float
    bias_lr_factor: float
    warmup_epochs: float
    epochs: int
    batch_size: int
    label_smoothing: float
    ema: float | None
    swa_start: int | None  # None: no SWA
    swa_freq: int
    horizontal_flip: float
    height_shift_range: float
    width_shift_range: float
    tta: bool
    tta_shifts: int
    bfloat16: bool
    val_size: int
    split_seed: int
    limit_train: int | None
    seed: int

    @classmethod
    def from_dict(cls, values: dict) -> "Recipe":
        known = {item.name for item in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"Unknown recipe settings {unknown}; allowed: {sorted(known)}. "
                             f"Received: {values}")
        return cls(**{**values, "widths": tuple(values["widths"])})


def rescale(images: torch.Tensor) -> torch.Tensor:
    """Pixels in [0, 255] to [-1, 1], as `models.layers.image_input` does inside the model."""
    return images.float() * (1.0 / 127.5) - 1.0


def conv3x3(in_channels: int, out_channels: int) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)


class WhiteningStem(nn.Module):
    """airbench's frozen patch whitening, both signs of each component, then ReLU
    (`models.fast_cnn.whitening_stem`); `fit` sets it from the training images."""

    def __init__(self, patch_size: int, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, patch_size**2 * channels, patch_size)  # "valid"
        self.conv.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        return F.relu(torch.cat([x, -x], dim=1))

    @torch.no_grad()
    def fit(self, images: torch.Tensor, epsilon: float) -> None:
        """Principal components of the patches of `images` (N, C, H, W, as the stem receives
        them), each scaled to unit variance, largest first; the bias subtracts the mean patch."""
        size = self.conv.kernel_size[0]
        patches = images.double().unfold(2, size, 1).unfold(3, size, 1)  # N, C, H', W', k, k
        patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, self.conv.weight[0].numel())
        mean = patches.mean(dim=0)
        eigenvalues, eigenvectors = torch.linalg.eigh(torch.cov(patches.T, correction=0))
        components = eigenvectors.flip(1) / torch.sqrt(eigenvalues.flip(0) + epsilon)
        self.conv.weight.copy_(components.T.reshape(self.conv.weight.shape))
        self.conv.bias.copy_(-mean @ components)


class Stage(nn.Module):
    """Convolution, 2x2 max-pooling, BatchNorm, ReLU, then convolution, BatchNorm, ReLU
    (`models.fast_cnn.pooled_stage`)."""

    def __init__(self, in_channels: int, width: int, norm):
        super().__init__()
        self.conv1, self.pool, self.bn1 = conv3x3(in_channels, width), nn.MaxPool2d(2), norm(width)
        self.conv2, self.bn2 = conv3x3(width, width), norm(width)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.pool(self.conv1(x))))
        return self.relu(self.bn2(self.conv2(x)))


class FastCNN(nn.Module):
    """`models.fast_cnn.FastCNN`: a stem, one `Stage` per width, a global max-pool and a linear
    classifier; it takes raw pixels (N, C, H, W) in [0, 255] and returns logits."""

    def __init__(self, recipe: Recipe, channels: int = 1):
        super().__init__()
        norm = partial(nn.BatchNorm2d, eps=recipe.batchnorm_epsilon,
                       momentum=recipe.batchnorm_momentum)
        if recipe.whitening_patch_size:
            self.stem = WhiteningStem(recipe.whitening_patch_size, channels)
            channels = 2 * self.stem.conv.out_channels
        else:
            self.stem = nn.Sequential(conv3x3(channels, recipe.stem_width),
                                      norm(recipe.stem_width), nn.ReLU(inplace=True))
            channels = recipe.stem_width
        stages = []
        for width in recipe.widths:
            stages.append(Stage(channels, width, norm))
            channels = width
        self.stages = nn.Sequential(*stages)
        self.head = nn.Linear(channels, recipe.num_classes)
        if not recipe.batchnorm_scale:  # airbench's frozen scale: gamma stays 1
            for module in self.modules():
                if isinstance(module, nn.BatchNorm2d):
                    module.weight.requires_grad_(False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(rescale(images)))
        return self.head(torch.amax(x, dim=(2, 3)))


def initialize(model: nn.Module, dirac: bool) -> None:
    """Keras's initialization, which the project's network starts from: Glorot-uniform kernels
    and zero biases; with `dirac`, the first `in` filters of each trained convolution start as
    the identity (`models.initializers.DiracInit`, `torch.nn.init.dirac_` on those filters)."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d | nn.Linear) and module.weight.requires_grad:
            nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
            if dirac and isinstance(module, nn.Conv2d):
                nn.init.dirac_(module.weight[: module.in_channels])


def build_model(recipe: Recipe, train_images: torch.Tensor) -> FastCNN:
    """The network, seeded and initialized, its whitening fitted on the first training images,
    in channels_last."""
    torch.manual_seed(recipe.seed)
    model = FastCNN(recipe, channels=train_images.shape[1])
    initialize(model, recipe.dirac_init)
    if recipe.whitening_patch_size:
        model.stem.fit(rescale(train_images[: recipe.whitening_images]), recipe.whitening_epsilon)
    return model.to(memory_format=torch.channels_last)


@dataclass
class Split:
    """The project's split (`data.train_val_split`) as tensors: uint8 images (N, C, H, W) and
    int64 labels."""

    train: tuple[torch.Tensor, torch.Tensor]
    val: tuple[torch.Tensor, torch.Tensor]
    test: tuple[torch.Tensor, torch.Tensor]


def load_split(recipe: Recipe) -> Split:
    data = load_fashion_mnist(download=False)  # benchmarks.peer has checked the files
    train_idx, val_idx = train_val_split(data.y_train, recipe.val_size, recipe.split_seed,
                                         recipe.limit_train)

    def tensors(images: np.ndarray, labels: np.ndarray):
        # Copies: the loaded test arrays are read-only views of the files' bytes.
        return (torch.tensor(images).permute(0, 3, 1, 2).contiguous(),
                torch.tensor(labels, dtype=torch.int64))

    return Split(tensors(data.x_train[train_idx], data.y_train[train_idx]),
                 tensors(data.x_train[val_idx], data.y_train[val_idx]),
                 tensors(data.x_test, data.y_test))


def shift(images: torch.Tensor, down: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
    """Each image of `images` (N, C, H, W) moved down by `down[i]` and right by `right[i]` whole
    pixels (negative: up, left), the uncovered border filled with 0, the background."""
    margin = int(torch.cat([down, right]).abs().max())
    if margin == 0:
        return images
    batch, channels, height, width = images.shape
    padded = F.pad(images, (margin, margin, margin, margin))
    rows = torch.arange(height) + margin - down[:, None]  # (N, H): the source row of each row
    cols = torch.arange(width) + margin - right[:, None]
    return padded[torch.arange(batch)[:, None, None, None],
                  torch.arange(channels)[None, :, None, None],
                  rows[:, None, :, None], cols[:, None, None, :]]


def augment(images: torch.Tensor, recipe: Recipe, generator: torch.Generator) -> torch.Tensor:
    """`data.augmentation`'s draws: each image mirrored with probability `horizontal_flip`, then
    shifted by round(uniform(-1, 1) * range * side) pixels down and right."""
    batch, _, height, width = images.shape
    if recipe.horizontal_flip:
        flipped = torch.rand(batch, generator=generator) < recipe.horizontal_flip
        images = torch.where(flipped[:, None, None, None], images.flip(3), images)
    draws = torch.rand(2, batch, generator=generator) * 2.0 - 1.0
    down = torch.round(draws[0] * recipe.height_shift_range * height).long()
    right = torch.round(draws[1] * recipe.width_shift_range * width).long()
    return shift(images, down, right)


def one_cycle(recipe: Recipe, steps_per_epoch: int):
    """The factor of the peak learning rate at each step (`OneCycleLearningRate`): a linear rise
    from `ONE_CYCLE_START` over the warm-up, then a linear fall to 0 at the last step."""
    warmup = round(recipe.warmup_epochs * steps_per_epoch)
    total = recipe.epochs * steps_per_epoch

    def factor(step: int) -> float:
        if step < warmup:
            return ONE_CYCLE_START + (1.0 - ONE_CYCLE_START) * step / warmup
        return min(max((total - step) / (total - warmup), 0.0), 1.0)

    return factor


def build_optimizer(model: nn.Module, recipe: Recipe, steps_per_epoch: int):
    """Adam with Keras's epsilon, `bias_lr_factor` times the rate for the vectors (biases,
    BatchNorm's scales and offsets: `training.bias_lr`), under the one-cycle schedule."""
    trainable = [parameter for parameter in model.parameters() if parameter.requires_grad]
    groups = [{"params": [p for p in trainable if p.ndim > 1]},
              {"params": [p for p in trainable if p.ndim == 1],
               "lr": recipe.lr * recipe.bias_lr_factor}]
    optimizer = torch.optim.Adam(groups, lr=recipe.lr, eps=recipe.adam_epsilon, fused=True)
    return optimizer, LambdaLR(optimizer, one_cycle(recipe, steps_per_epoch))


def autocast(recipe: Recipe):
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=recipe.bfloat16)


def channels_last(images: torch.Tensor) -> torch.Tensor:
    return images.float().contiguous(memory_format=torch.channels_last)


@dataclass
class Averages:
    """The moving average (updated every step) and the SWA average (every `swa_freq` epochs
    from `swa_start`) of the weights, each None where the recipe has none."""

    ema: AveragedModel | None
    swa: AveragedModel | None
    swa_epochs: list[int]

    @classmethod
    def of(cls, model: nn.Module, recipe: Recipe) -> "Averages":
        ema = None if recipe.ema is None else AveragedModel(
            model, multi_avg_fn=get_ema_multi_avg_fn(recipe.ema))
        swa = None if recipe.swa_start is None else AveragedModel(model)
        return cls(ema, swa, [])

    def end_epoch(self, model: nn.Module, epoch: int, recipe: Recipe) -> None:
        """Adds the weights after `epoch` (1-based) to the SWA average when it takes them."""
        if self.swa is not None and epoch >= recipe.swa_start:
            if (epoch - recipe.swa_start) % recipe.swa_freq == 0:
                self.swa.update_parameters(model)
                self.swa_epochs.append(epoch)


def train_epoch(model, optimizer, scheduler, averages: Averages, train, recipe: Recipe,
                generator: torch.Generator) -> float:
    """One epoch over `train` in a new order, augmented; returns the mean training loss."""
    model.train()
    images, labels = train
    order = torch.randperm(len(labels), generator=generator)
    total = torch.zeros(())
    for start in range(0, len(order), recipe.batch_size):
        batch = order[start : start + recipe.batch_size]
        inputs = channels_last(augment(images[batch], recipe, generator))
        with autocast(recipe):
            logits = model(inputs)
        loss = F.cross_entropy(logits.float(), labels[batch],
                               label_smoothing=recipe.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        if averages.ema is not None:
            averages.ema.update_parameters(model)
        total += loss.detach() * len(batch)
    return float(total) / len(labels)


def fit(model: FastCNN, split: Split, recipe: Recipe, say) -> tuple[dict, Averages]:
    """Trains `recipe.epochs` epochs, each timed with its validation pass (as the project's
    history times them) and its load measured; returns the history, keyed by epoch, and the
    averages."""
    steps_per_epoch = math.ceil(len(split.train[1]) / recipe.batch_size)
    optimizer, scheduler = build_optimizer(model, recipe, steps_per_epoch)
    averages = Averages.of(model, recipe)
    generator = torch.Generator().manual_seed(recipe.seed)
    history = {}
    for epoch in range(1, recipe.epochs + 1):
        meter = LoadMeter().start()
        started = time.perf_counter()
        loss = train_epoch(model, optimizer, scheduler, averages, split.train, recipe, generator)
        averages.end_epoch(model, epoch, recipe)
        validation_started = time.perf_counter()
        val_accuracy = accuracy(probabilities(model, split.val[0], recipe.bfloat16), split.val[1])
        validation_seconds = time.perf_counter() - validation_started
        seconds = time.perf_counter() - started
        say(f"PyTorch epoch {epoch}/{recipe.epochs}: {seconds:.1f} s, loss {loss:.4f}, "
            f"val_accuracy {val_accuracy:.4f}")
        # A loss that is not finite is kept as None, as the project's history keeps it.
        history[str(epoch)] = {"loss": loss if math.isfinite(loss) else None,
                               "val_accuracy": val_accuracy, "seconds": seconds,
                               "validation_seconds": validation_seconds,
                               "load": meter.stop()}
    return history, averages


@torch.inference_mode()
def probabilities(model: nn.Module, images: torch.Tensor, bfloat16: bool = False):
    """Softmax outputs of `model` in inference mode, in batches of the project's evaluation."""
    model.eval()
    batches = []
    for start in range(0, len(images), EVAL_BATCH_SIZE):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bfloat16):
            logits = model(channels_last(images[start : start + EVAL_BATCH_SIZE]))
        batches.append(torch.softmax(logits.float(), dim=1))
    return torch.cat(batches)


def accuracy(probabilities: torch.Tensor, labels: torch.Tensor) -> float:
    return float((probabilities.argmax(dim=1) == labels).double().mean())


def tta_probabilities(model: nn.Module, images: torch.Tensor, pixels: int, plain: torch.Tensor):
    """The plain mean over every view of `training.tta.tta_views`: each shift of
    `tta_shifts(pixels)`, as it is and mirrored; `plain` is the first view's prediction."""
    views = []
    for down, right in tta_shifts(pixels):
        moved = shift(images, torch.full((len(images),), down), torch.full((len(images),), right))
        views += [moved, moved.flip(3)]
    predictions = [plain, *(probabilities(model, view) for view in views[1:])]
    return torch.stack(predictions).mean(dim=0)


def weight_sets(model: FastCNN, averages: Averages, split: Split, recipe: Recipe,
                steps: int) -> dict[str, nn.Module]:
    """The final, SWA and EMA weights (the project's order), the averages' BatchNorm statistics
    recomputed on the first `BATCHNORM_IMAGES` unaugmented training images, and the final
    weights' too when `steps` left them near their initial values (`SETTLED_INITIAL_WEIGHT`)."""

    def recompute(network: nn.Module) -> None:
        images = split.train[0][:BATCHNORM_IMAGES]
        batches = (channels_last(images[start : start + EVAL_BATCH_SIZE])
                   for start in range(0, len(images), EVAL_BATCH_SIZE))
        with autocast(recipe):
            update_bn(batches, network)

    if (1.0 - recipe.batchnorm_momentum) ** steps >= SETTLED_INITIAL_WEIGHT:
        recompute(model)
    sets = {"final": model}
    if averages.swa_epochs:
        sets["swa"] = averages.swa
    if averages.ema is not None:
        sets["ema"] = averages.ema
    for name in ("swa", "ema"):
        if name in sets:
            recompute(sets[name])
    return sets


def select(sets: dict[str, nn.Module], split: Split, recipe: Recipe):
    """The validation accuracy of every weight set, and with TTA that of the best of them, by
    (weights, tta), and the best candidate (a tie goes to the first): validation alone
    chooses, as the project does."""
    scores, plain = {}, {}
    for name, network in sets.items():
        plain[name] = probabilities(network, split.val[0])
        scores[name, False] = accuracy(plain[name], split.val[1])
    if recipe.tta:
        best, _ = max(scores, key=scores.get)
        averaged = tta_probabilities(sets[best], split.val[0], recipe.tta_shifts, plain[best])
        scores[best, True] = accuracy(averaged, split.val[1])
    return scores, max(scores, key=scores.get)


def score_test(network: nn.Module, tta: bool, split: Split, recipe: Recipe) -> float:
    """The selected weights' test accuracy: the only time the test set is read."""
    plain = probabilities(network, split.test[0])
    if tta:
        plain = tta_probabilities(network, split.test[0], recipe.tta_shifts, plain)
    return accuracy(plain, split.test[1])


def count_weights(model: nn.Module, trainable_only: bool = False) -> int:
    """The model's weights as Keras's `count_params` counts them: every parameter, frozen ones
    included, and BatchNorm's moving statistics; with `trainable_only`, the trained ones."""
    parameters = [p for p in model.parameters() if p.requires_grad or not trainable_only]
    statistics = [] if trainable_only else [
        buffer for name, buffer in model.named_buffers()
        if name.endswith(("running_mean", "running_var"))]
    return sum(tensor.numel() for tensor in [*parameters, *statistics])


def train_and_evaluate(recipe: Recipe, say=print) -> dict:
    """Trains and selects on validation, then reads the test set once; returns the result that
    `benchmarks.peer` puts in its record."""
    torch.set_num_threads(usable_cores())
    split = load_split(recipe)
    model = build_model(recipe, split.train[0])
    history, averages = fit(model, split, recipe, say)
    steps = recipe.epochs * math.ceil(len(split.train[1]) / recipe.batch_size)
    sets = weight_sets(model, averages, split, recipe, steps)
    scores, (weights, tta) = select(sets, split, recipe)
    train_seconds = sum(entry["seconds"] for entry in history.values())
    return {
        "framework": f"PyTorch {torch.__version__}",
        "threads": torch.get_num_threads(),
        "params": count_weights(model),
        "train_images": len(split.train[1]),
        "val_images": len(split.val[1]),
        "epochs": recipe.epochs,
        "history": history,
        "train_seconds": train_seconds,
        "images_per_second": len(split.train[1]) * recipe.epochs / train_seconds,
        "accuracies": {f"val_accuracy_{name}{'_tta' if with_tta else ''}": value
                       for (name, with_tta), value in scores.items()},
        "selected_weights": weights,
        "selected_tta": tta,
        "val_accuracy": scores[weights, tta],
        "test_accuracy": score_test(sets[weights], tta, split, recipe),
        "swa_epochs": averages.swa_epochs,
        "machine": cpu_facts()["key"],
        "load": summarize_load([entry["load"] for entry in history.values() if entry["load"]]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", type=Path, required=True,
                        help="JSON file of the Recipe's settings (benchmarks.peer writes it)")
    parser.add_argument("--out", type=Path, required=True, help="where the JSON result goes")
    args = parser.parse_args(argv)
    recipe = Recipe.from_dict(json.loads(args.recipe.read_text()))
    atomic_write_json(args.out, train_and_evaluate(recipe, say=partial(print, flush=True)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
