"""Training of one fold: the loop, `evaluate`, the learning-rate schedule and resumable checkpoints.

Every epoch's randomness (batch order, dropout, augmentation) is seeded from (seed, epoch), so a run killed and
resumed from `last.pt` gives the same numbers as an uninterrupted one.
"""

from __future__ import annotations

import copy
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from bcrnn import metrics
from bcrnn.augment import random_speed, speed_perturb
from bcrnn.models.bipolar import GRADIENT_PRECISIONS, gradient_precision
from bcrnn.options import check_options, option


SELECTIONS = ("best", "last", "average")


@dataclass
class TrainConfig:
    """How every fold is trained. Each field is an option (bcrnn.options): a `bcrnn train` flag, a key under
    `train:` in an experiment file, an entry of config.json."""

    epochs: int = option(40, "epoch budget per fold; the learning rate decays over it (cosine)", minimum=1)
    batch_size: int = option(32, "training batch size", minimum=2, why="batch norm needs batches of two")
    lr: float = option(1e-3, "learning rate after the warm-up (Adam; AdamW with --weight-decay)")
    weight_decay: float = option(0.0, "AdamW decay of the non-binary parameters (binary latent weights are clipped "
                                      "instead)")
    label_smoothing: float = option(0.1, "label smoothing of the cross-entropy")
    patience: int = option(15, "early stopping: epochs without a better validation UAR", minimum=1)
    class_weights: bool = option(True, "inverse-frequency weighted cross-entropy (Emo-DB is imbalanced)")
    time_masks: int = option(0, "SpecAugment time masks per training segment; 0 = off")
    freq_masks: int = option(0, "SpecAugment frequency masks per training segment; 0 = off")
    warmup_epochs: int = option(1, "epochs of linear learning-rate warm-up")
    selection: str = option(
        "best", "weights kept per fold: best validation UAR (early stopping with --patience), the last epoch's (no "
        "early stopping: the one validation speaker only gets logged), or the average of the last "
        "--average-epochs epochs' (SWA-style: binary latent weights averaged before sign(), batch-norm statistics "
        "recomputed on the training data)", choices=SELECTIONS)
    average_epochs: int = option(5, "selection average: how many final epochs")
    mixup: float = option(0.0, "mixup: Beta(a, a) mixing weight per batch; 0 = off")
    speed_perturb: float = option(0.0, "speed perturbation of training segments by a factor uniform in [1 - s, 1 + s] "
                                       "(bcrnn.augment); 0 = off")
    speed_perturb_probability: float = option(1.0, "the share of training segments speed-perturbed (the others left "
                                                   "as they are)")
    distill_weight: float = option(
        0.0, "knowledge distillation from --teacher: loss = (1 - w) CE + w T^2 KL(teacher || model) on "
        "temperature-T softmaxes of the same (masked, mixed) batch; this is w; 0 = off")
    distill_temperature: float = option(2.0, "softmax temperature T of the distillation")
    speaker_batch_norm: bool = option(
        False, "speaker batch norm: one speaker per training batch, and every scored speaker (validation, test) "
        "gets batch-norm statistics of its own segments (no labels), as --normalization speaker does for the "
        "features; deployed as per-speaker thresholds from an enrolment pass (bcrnn enrol)")
    validate_every: int = option(
        1, "validate every n-th epoch and after the last; > 1 only with --selection last or average, where "
        "validation only monitors (with speaker batch norm each validation enrols the speaker first, ~10% of an "
        "epoch)")
    gradient_precision: str = option(
        "float32", "precision of the backward products of the +-1 x +-1 layers (dense, binary LSTM): bfloat16 is "
        "~2x faster with AVX512-BF16; the forward pass and the deployed integers are unchanged",
        choices=GRADIENT_PRECISIONS)
    real_weight_epochs: int = option(
        0, "two-stage training of a BCRNN: the first N epochs keep the weights real-valued (activations binary, the "
        "LSTM in float arithmetic), the rest binarize them from there; the learning-rate schedule restarts at the "
        "switch; 0 = off (ReActNet, Real-to-Binary)")

    def __post_init__(self):
        check_options(self)
        if self.real_weight_epochs:
            if self.selection == "best":
                raise ValueError("real_weight_epochs needs a fixed budget (selection last or average): selection best "
                                 "could keep a real-weight epoch, which has no binary deployment")
            binary = self.epochs - self.real_weight_epochs
            if binary < (self.average_epochs if self.selection == "average" else 1) or self.real_weight_epochs < 0:
                raise ValueError(f"real_weight_epochs {self.real_weight_epochs} leaves {binary} binary epochs of "
                                 f"{self.epochs}: fewer than the {max(self.average_epochs, 1)} selection "
                                 f"{self.selection} keeps")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if not 0.0 <= self.speed_perturb < 0.5:
            raise ValueError(f"speed_perturb is the largest relative speed change, in [0, 0.5): "
                             f"got {self.speed_perturb}")
        if not 0.0 < self.speed_perturb_probability <= 1.0:
            raise ValueError(f"speed_perturb_probability must be in (0, 1]: got {self.speed_perturb_probability}")
        if self.validate_every < 1 or (self.validate_every > 1 and self.selection == "best"):
            raise ValueError(f"validate_every must be >= 1, and 1 with selection 'best' (it selects by validation): "
                             f"got {self.validate_every} with selection {self.selection!r}")


@dataclass
class SegmentData:
    """Normalized segments of some utterances and which utterance each belongs to."""

    x: np.ndarray  # (segments, 3, frames, bands) float32
    y: np.ndarray  # (segments,) labels
    owner: np.ndarray  # (segments,) utterance index
    utt_labels: dict  # utterance index -> label
    speaker: np.ndarray | None = None  # (segments,) speaker of each segment (speaker batch norm needs it)

    def __len__(self) -> int:
        return len(self.x)


@dataclass
class FoldHistory:
    train_loss: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    val_uar: list = field(default_factory=list)
    lr: list = field(default_factory=list)
    seconds: list = field(default_factory=list)
    selected_epoch: int = 0  # 1-based epoch whose weights are kept (best validation UAR, ties: lower loss;
    # with selection "last"/"average": the last epoch)
    selected_val_uar: float | None = None  # validation UAR of the kept weights (with "average": of the average)


def lr_factor(epoch: int, cfg: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to 5% of the base rate over the epoch budget; with two-stage training,
    over each stage."""
    epochs = cfg.epochs
    if cfg.real_weight_epochs:
        stage_start = cfg.real_weight_epochs if epoch >= cfg.real_weight_epochs else 0
        epochs = cfg.real_weight_epochs if epoch < cfg.real_weight_epochs else cfg.epochs - cfg.real_weight_epochs
        epoch -= stage_start
    if epoch < cfg.warmup_epochs:
        return (epoch + 1) / (cfg.warmup_epochs + 1)
    progress = (epoch - cfg.warmup_epochs) / max(epochs - cfg.warmup_epochs, 1)
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def _mask(x: torch.Tensor, n_time: int, n_freq: int, gen: torch.Generator) -> torch.Tensor:
    """SpecAugment-style masking: set random time spans (<= 30 frames) and bands (<= 6) to the mean (0)."""
    x = x.clone()
    b, _, t, f = x.shape
    for i in range(b):
        for _ in range(n_time):
            w = int(torch.randint(0, 31, (1,), generator=gen))
            s = int(torch.randint(0, max(t - w, 1), (1,), generator=gen))
            x[i, :, s : s + w] = 0.0
        for _ in range(n_freq):
            w = int(torch.randint(0, 7, (1,), generator=gen))
            s = int(torch.randint(0, max(f - w, 1), (1,), generator=gen))
            x[i, :, :, s : s + w] = 0.0
    return x


@torch.no_grad()
def evaluate(model: nn.Module, data: SegmentData, n_classes: int, batch_size: int = 64,
             loss_fn: Callable | None = None) -> dict:
    """Utterance-level scores: segment posteriors averaged per utterance, then argmax."""
    model.eval()
    probs, losses = [], []
    for s in range(0, len(data), batch_size):
        xb = torch.from_numpy(data.x[s : s + batch_size])
        logits = model(xb)
        if loss_fn is not None:
            losses.append(float(loss_fn(logits, torch.from_numpy(data.y[s : s + batch_size]))) * len(xb))
        probs.append(torch.softmax(logits, dim=1).numpy())
    probs = np.concatenate(probs)
    utts = sorted(data.utt_labels)
    utt_probs = np.stack([probs[data.owner == u].mean(0) for u in utts])
    y_true = np.asarray([data.utt_labels[u] for u in utts])
    y_pred = utt_probs.argmax(1)
    out = metrics.scores(y_true, y_pred, n_classes)
    out.update(utt_index=utts, y_true=y_true.tolist(), y_pred=y_pred.tolist(), probs=utt_probs.tolist())
    if loss_fn is not None:
        out["loss"] = sum(losses) / len(data)
    return out


@torch.no_grad()
def recompute_batch_norm(model: nn.Module, data: SegmentData, batch_size: int = 64) -> None:
    """Batch-norm running statistics re-estimated as plain averages over `data` (train mode, no updates): what
    weights that were never trained as such (an average of several epochs' weights) need before evaluation."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average
    model.train()
    for s in range(0, len(data) - 1, batch_size):
        xb = data.x[s : s + batch_size]
        if len(xb) > 1:
            model(torch.from_numpy(xb))
    for m, momentum in zip(bns, momenta):
        m.momentum = momentum
    model.eval()


class _StopForward(Exception):
    pass


@torch.no_grad()
def adapt_batch_norm(model: nn.Module, segments: np.ndarray, batch_size: int = 64) -> nn.Module:
    """A copy of `model` whose batch-norm layers hold the exact mean and (population) variance of their inputs
    over `segments` (one speaker's normalized segments, no labels): speaker batch norm's enrolment.

    Exact, not an average of batch statistics (batches of unequal size would weigh segments unequally): one layer
    at a time in forward order, each with every earlier layer already adapted, the forward pass cut short after
    the layer being measured."""
    adapted = copy.deepcopy(model).eval()
    bns = [m for m in adapted.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    order = []
    hooks = [m.register_forward_pre_hook(lambda m, args: order.append(m) if m not in order else None) for m in bns]
    adapted(torch.from_numpy(segments[:2]))
    for h in hooks:
        h.remove()
    for bn in order:
        acc = {}

        def measure(module, args):
            x = args[0].detach().double().transpose(0, 1).reshape(module.num_features, -1)
            acc["n"] = acc.get("n", 0) + x.shape[1]
            acc["sum"] = acc.get("sum", 0) + x.sum(1)
            acc["sq"] = acc.get("sq", 0) + (x * x).sum(1)
            raise _StopForward

        hook = bn.register_forward_pre_hook(measure)
        for s in range(0, len(segments), batch_size):
            try:
                adapted(torch.from_numpy(segments[s : s + batch_size]))
            except _StopForward:
                pass
        hook.remove()
        mean = acc["sum"] / acc["n"]
        bn.running_mean.copy_(mean)
        bn.running_var.copy_((acc["sq"] / acc["n"] - mean * mean).clamp_min(0))
    return adapted


def speaker_batches(data: SegmentData, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Batches of one speaker's segments each (shuffled, each speaker's cut into near-equal batches of at most
    `batch_size`), in random order."""
    if data.speaker is None:
        raise ValueError("speaker batch norm needs the speaker of every training segment (SegmentData.speaker)")
    batches = []
    for spk in np.unique(data.speaker):
        idx = rng.permutation(np.flatnonzero(data.speaker == spk))
        batches += np.array_split(idx, -(-len(idx) // batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def _optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """Adam; weight decay only on full-precision parameters that are not batch-norm or bias terms."""
    decay, no_decay = [], []
    binary = getattr(getattr(model, "cfg", None), "binary", False)
    for name, p in model.named_parameters():
        is_matrix = p.ndim >= 2 and "scaling_impl" not in name
        (decay if is_matrix and not binary else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr) if cfg.weight_decay else torch.optim.Adam(groups, lr=cfg.lr)


def distillation_loss(logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """T^2 KL(softmax(teacher / T) || softmax(logits / T)), batch mean (Hinton et al.'s soft-target term)."""
    t = temperature
    return t * t * nn.functional.kl_div(nn.functional.log_softmax(logits / t, dim=1),
                                        nn.functional.log_softmax(teacher_logits / t, dim=1),
                                        reduction="batchmean", log_target=True)


@torch.no_grad()
def teacher_logits(teacher: nn.Module, x: np.ndarray, batch_size: int) -> torch.Tensor:
    """The (eval-mode) teacher's logits for every training segment, computed once per fold: without masks or
    mixup a segment's input never changes, and the teacher's forward pass was ~1/4 of a distillation step."""
    return torch.cat([teacher(torch.from_numpy(x[s : s + batch_size])) for s in range(0, len(x), batch_size)])


def fit(model: nn.Module, train: SegmentData, val: SegmentData, n_classes: int, cfg: TrainConfig,
        ckpt_dir: Path, seed: int, desc: str = "", log: Callable[[str], None] = print,
        progress: bool = True, teacher: nn.Module | None = None,
        experiment: dict | None = None) -> tuple[dict, FoldHistory]:
    """Train with early stopping on validation UAR; returns the kept state dict and the history. With a
    `teacher` (eval mode, frozen) and cfg.distill_weight > 0, its soft targets join the loss.

    `ckpt_dir/last.pt` is written after every epoch (model, optimizer, loop state and `experiment`, the
    configuration it was trained in) and read back when present, which is how `--resume` continues a killed run.
    """
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    loss_fn, plain_loss = _losses(train, n_classes, cfg)
    if cfg.distill_weight > 0 and teacher is None:
        raise ValueError("distill_weight > 0 needs a teacher (ExperimentConfig.teacher / --teacher)")
    soft_targets = _cached_soft_targets(teacher, train, cfg)
    last = ckpt_dir / "last.pt"
    opt, state = _start_or_resume(model, cfg, last, log, desc)

    def validate() -> dict:  # with speaker batch norm, the validation speaker enrolled first
        return evaluate(adapt_batch_norm(model, val.x) if cfg.speaker_batch_norm else model, val, n_classes,
                        loss_fn=plain_loss)

    for epoch in range(state.next_epoch, cfg.epochs):
        if cfg.selection == "best" and state.since_best >= cfg.patience:
            break
        if cfg.real_weight_epochs:
            model.use_real_weights(epoch < cfg.real_weight_epochs)
            if epoch == cfg.real_weight_epochs:
                log(f"{desc}: epoch {epoch + 1}: the weights binarized from the real-valued ones of the first stage")
        t0 = time.time()
        train_loss = _train_epoch(model, opt, train, cfg, seed, epoch, loss_fn, teacher, soft_targets,
                                  f"{desc} ep {epoch + 1}/{cfg.epochs}", progress)
        validated = (epoch + 1) % cfg.validate_every == 0 or epoch == cfg.epochs - 1
        res = validate() if validated else {"loss": None, "uar": None}  # None: JSON null in the history
        state.record(train_loss, res, opt.param_groups[0]["lr"], time.time() - t0)
        improved = state.select(model, epoch, res, validated, cfg)
        scores = f"val loss {res['loss']:.3f}  val UAR {res['uar']:.3f}" if validated else "(not validated)"
        log(f"{desc} epoch {epoch + 1:3d}  train loss {train_loss:.3f}  {scores}"
            f"{'  *' if improved else ''}  ({state.history.seconds[-1]:.1f} s)")
        _save_last(last, model, opt, state, epoch, experiment)
    if cfg.real_weight_epochs:
        model.use_real_weights(False)
    return _kept_weights(model, state, cfg, train, validate, log, desc), state.history


def _start_or_resume(model: nn.Module, cfg: TrainConfig, last: Path, log: Callable[[str], None],
                     desc: str) -> tuple[torch.optim.Optimizer, _LoopState]:
    """The optimizer and the loop state: fresh, or read back from last.pt together with the model's weights."""
    if not last.exists():
        return _optimizer(model, cfg), _LoopState()
    saved = torch.load(last, weights_only=False)
    # before the optimizer exists: Brevitas' parameter scaling re-creates its Parameter on load, and an
    # optimizer built earlier would keep updating the orphaned one (caught by the resume test)
    model.load_state_dict(saved["model"])
    opt = _optimizer(model, cfg)
    opt.load_state_dict(saved["optimizer"])
    state = _LoopState.from_checkpoint(saved)
    log(f"{desc}: resumed after epoch {state.next_epoch}")
    return opt, state


def _losses(train: SegmentData, n_classes: int, cfg: TrainConfig) -> tuple[nn.Module, nn.Module]:
    """The training loss (with label smoothing) and the validation loss, both weighted by inverse class
    frequency over utterances (the unit that is scored), applied to every segment of a class."""
    counts = np.bincount(list(train.utt_labels.values()), minlength=n_classes).astype(np.float64)
    weights = counts.sum() / (n_classes * np.maximum(counts, 1)) if cfg.class_weights else np.ones(n_classes)
    weight = torch.tensor(weights, dtype=torch.float32)
    return nn.CrossEntropyLoss(weight=weight, label_smoothing=cfg.label_smoothing), nn.CrossEntropyLoss(weight=weight)


def _cached_soft_targets(teacher: nn.Module | None, train: SegmentData, cfg: TrainConfig) -> torch.Tensor | None:
    """The teacher's logits of every training segment when distilling without augmentation (each segment's
    input then never changes); None when the teacher must see each augmented batch, or there is none."""
    augmented = bool(cfg.time_masks or cfg.freq_masks or cfg.mixup > 0 or cfg.speed_perturb > 0)
    if cfg.distill_weight > 0 and not augmented:
        return teacher_logits(teacher, train.x, cfg.batch_size)
    return None


def _train_epoch(model: nn.Module, opt: torch.optim.Optimizer, train: SegmentData, cfg: TrainConfig, seed: int,
                 epoch: int, loss_fn: nn.Module, teacher: nn.Module | None, soft_targets: torch.Tensor | None,
                 desc: str, progress: bool) -> float:
    """One pass over the training segments at this epoch's learning rate; returns the mean training loss. All its
    randomness (batch order, dropout, augmentation) is seeded from (seed, epoch)."""
    torch.manual_seed(seed * 100_003 + epoch)
    gen = torch.Generator().manual_seed(seed * 100_003 + epoch)
    mix_rng = np.random.default_rng([seed, epoch, 1])
    for group in opt.param_groups:
        group["lr"] = cfg.lr * lr_factor(epoch, cfg)
    model.train()
    total, n_seen = 0.0, 0
    bar = tqdm(_epoch_batches(train, cfg, seed, epoch), desc=desc, leave=False, disable=not progress, unit="batch")
    with gradient_precision(cfg.gradient_precision):
        for idx in bar:
            loss = _batch_loss(model, train, idx, cfg, gen, mix_rng, loss_fn, teacher, soft_targets)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if hasattr(model, "clip_weights"):
                model.clip_weights()
            total += loss.item() * len(idx)
            n_seen += len(idx)
            bar.set_postfix(loss=f"{total / n_seen:.3f}")
    return total / max(n_seen, 1)


def _epoch_batches(train: SegmentData, cfg: TrainConfig, seed: int, epoch: int) -> list[np.ndarray]:
    """The epoch's batches of segment indices: shuffled, or one speaker's each with speaker batch norm; a batch of
    one segment is dropped (batch norm needs two)."""
    if cfg.speaker_batch_norm:
        batches = speaker_batches(train, cfg.batch_size, np.random.default_rng([seed, epoch, 2]))
    else:
        order = np.random.default_rng([seed, epoch]).permutation(len(train))
        batches = [order[s : s + cfg.batch_size] for s in range(0, len(order), cfg.batch_size)]
    return [b for b in batches if len(b) > 1]


def _batch_loss(model: nn.Module, train: SegmentData, idx: np.ndarray, cfg: TrainConfig, gen: torch.Generator,
                mix_rng: np.random.Generator, loss_fn: nn.Module, teacher: nn.Module | None,
                soft_targets: torch.Tensor | None) -> torch.Tensor:
    """The loss of one batch: augmented input (speed, masks, mixup), cross-entropy, and the teacher's soft
    targets when distilling."""
    xb = _augment(torch.from_numpy(train.x[idx]), cfg, gen)
    yb = torch.from_numpy(train.y[idx])
    if cfg.mixup > 0:
        lam = float(mix_rng.beta(cfg.mixup, cfg.mixup))
        perm = torch.from_numpy(mix_rng.permutation(len(idx)))
        xb = lam * xb + (1 - lam) * xb[perm]
        logits = model(xb)
        loss = lam * loss_fn(logits, yb) + (1 - lam) * loss_fn(logits, yb[perm])
    else:
        logits = model(xb)
        loss = loss_fn(logits, yb)
    if cfg.distill_weight > 0:
        if soft_targets is not None:
            soft = soft_targets[torch.from_numpy(idx)]
        else:
            with torch.no_grad():
                soft = teacher(xb)
        loss = (1 - cfg.distill_weight) * loss + cfg.distill_weight * distillation_loss(
            logits, soft, cfg.distill_temperature)
    return loss


def _augment(xb: torch.Tensor, cfg: TrainConfig, gen: torch.Generator) -> torch.Tensor:
    """Speed perturbation, then SpecAugment-style masks, as configured."""
    if cfg.speed_perturb > 0:
        factors, offsets = random_speed(len(xb), cfg.speed_perturb, gen, cfg.speed_perturb_probability)
        xb = speed_perturb(xb, factors, offsets)
    if cfg.time_masks or cfg.freq_masks:
        xb = _mask(xb, cfg.time_masks, cfg.freq_masks, gen)
    return xb


@dataclass
class _LoopState:
    """What the training loop carries from epoch to epoch, saved in last.pt so that a killed fold continues
    exactly where it stopped."""

    history: FoldHistory = field(default_factory=FoldHistory)
    next_epoch: int = 0
    best: dict | None = None  # weights of the best validated epoch (selection "best")
    best_key: tuple = (-1.0, 0.0)  # their (validation UAR, -validation loss): ties go to the lower loss
    since_best: int = 0
    avg_sum: dict | None = None  # selection "average": running sum of the last epochs' weights
    avg_count: int = 0

    @classmethod
    def from_checkpoint(cls, saved: dict) -> "_LoopState":
        return cls(FoldHistory(**saved["history"]), saved["epoch"] + 1, saved["best"], tuple(saved["best_key"]),
                   saved["since_best"], saved.get("avg_sum"), saved.get("avg_count", 0))

    def to_checkpoint(self, epoch: int) -> dict:
        return {"history": asdict(self.history), "epoch": epoch, "best": self.best, "best_key": list(self.best_key),
                "since_best": self.since_best, "avg_sum": self.avg_sum, "avg_count": self.avg_count}

    def record(self, train_loss: float, res: dict, lr: float, seconds: float) -> None:
        self.history.train_loss.append(train_loss)
        self.history.val_loss.append(res["loss"])
        self.history.val_uar.append(res["uar"])
        self.history.lr.append(lr)
        self.history.seconds.append(seconds)

    def select(self, model: nn.Module, epoch: int, res: dict, validated: bool, cfg: TrainConfig) -> bool:
        """Keep the epoch's weights if they are the best so far (selection "best"), or add them to the average
        (selection "average", last epochs); True when they are the new best."""
        key = (res["uar"], -res["loss"]) if validated else self.best_key
        improved = key > self.best_key and cfg.selection == "best"
        if cfg.selection == "average" and epoch >= cfg.epochs - cfg.average_epochs:
            self._add_to_average(model.state_dict())
        if improved:
            self.best_key, self.since_best, self.history.selected_epoch = key, 0, epoch + 1
            self.best = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            self.since_best += 1
        return improved

    def _add_to_average(self, sd: dict) -> None:
        if self.avg_sum is None:
            self.avg_sum = {k: v.detach().double().clone() for k, v in sd.items() if v.is_floating_point()}
        else:
            for k in self.avg_sum:
                self.avg_sum[k] += sd[k].detach().double()
        self.avg_count += 1


def _save_last(last: Path, model: nn.Module, opt: torch.optim.Optimizer, state: _LoopState, epoch: int,
               experiment: dict | None) -> None:
    """last.pt, written atomically: the resume point after `epoch`."""
    tmp = last.with_name(f".last.{os.getpid()}.tmp")
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), **state.to_checkpoint(epoch),
                "experiment": experiment}, tmp)
    tmp.replace(last)


def _kept_weights(model: nn.Module, state: _LoopState, cfg: TrainConfig, train: SegmentData,
                  validate: Callable[[], dict], log: Callable[[str], None], desc: str) -> dict:
    """The weights the fold keeps: the best epoch's, the last epoch's, or the average of the last epochs' (batch
    norm re-estimated on the training data, validated once more)."""
    if cfg.selection == "best":
        return state.best
    history = state.history
    history.selected_epoch = len(history.val_uar)
    if cfg.selection == "average" and state.avg_count > 1:
        sd = model.state_dict()
        model.load_state_dict({k: (state.avg_sum[k] / state.avg_count).to(sd[k].dtype) if k in state.avg_sum else v
                               for k, v in sd.items()})
        recompute_batch_norm(model, train)
        res = validate()
        log(f"{desc}: average of the last {state.avg_count} epochs' weights, batch norm re-estimated: "
            f"val UAR {res['uar']:.3f}")
        history.selected_val_uar = float(res["uar"])
    return {k: v.detach().clone() for k, v in model.state_dict().items()}
