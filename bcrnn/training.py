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


@dataclass
class TrainConfig:
    epochs: int = 40  # budget; cosine learning-rate decay over it
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.0  # on non-binary parameters only (binary latent weights are clipped instead)
    label_smoothing: float = 0.1
    patience: int = 15  # stop after this many epochs without a better validation UAR
    class_weights: bool = True  # inverse-frequency weighted cross-entropy (Emo-DB is imbalanced)
    time_masks: int = 0  # SpecAugment-style masks per training segment (0 = off)
    freq_masks: int = 0
    warmup_epochs: int = 1
    # which weights a fold keeps: "best" = best validation UAR (early stopping with `patience`); "last" = the
    # weights after the whole epoch budget (no early stopping: the one validation speaker only gets logged);
    # "average" = the mean of the weights after each of the last `average_epochs` epochs (SWA-style; binary
    # latent weights are averaged before sign(), batch-norm statistics recomputed on the training data)
    selection: str = "best"
    average_epochs: int = 5
    mixup: float = 0.0  # mixup: Beta(mixup, mixup) mixing weight per batch (0 = off)
    # speed perturbation of every training segment by a factor uniform in [1 - s, 1 + s] (bcrnn.augment; 0 = off)
    speed_perturb: float = 0.0
    speed_perturb_probability: float = 1.0  # the share of training segments perturbed (the others left as they are)
    # knowledge distillation from a teacher (ExperimentConfig.teacher): loss = (1 - w) CE + w T^2 KL(teacher || model)
    # on temperature-T softmaxes of the same (masked, mixed) batch; w = 0: off
    distill_weight: float = 0.0
    distill_temperature: float = 2.0
    # speaker batch norm: every training batch holds one speaker's segments, so batch norm normalizes each layer
    # with that speaker's statistics; every scored speaker (validation, test) gets batch-norm statistics of its own
    # segments (no labels), as `normalization: speaker` does for the input features. Deployment: per-speaker
    # thresholds from an enrolment pass (docs/ablation.md)
    speaker_batch_norm: bool = False
    # validate every n-th epoch (and always after the last): with selection "last" or "average" validation only
    # monitors, and with speaker batch norm each validation enrols the speaker first (~10 % of an epoch)
    validate_every: int = 1
    # precision of the backward products of the +-1 x +-1 layers (dense, binary LSTM): "float32" or "bfloat16"
    # (~2x faster products with AVX512-BF16; the forward pass and the deployed integers are unchanged)
    gradient_precision: str = "float32"

    def __post_init__(self):
        if self.selection not in SELECTIONS:
            raise ValueError(f"unknown selection {self.selection!r}: use one of {', '.join(SELECTIONS)}")
        if not 0.0 <= self.speed_perturb < 0.5:
            raise ValueError(f"speed_perturb is the largest relative speed change, in [0, 0.5): "
                             f"got {self.speed_perturb}")
        if not 0.0 < self.speed_perturb_probability <= 1.0:
            raise ValueError(f"speed_perturb_probability must be in (0, 1]: got {self.speed_perturb_probability}")
        if self.validate_every < 1 or (self.validate_every > 1 and self.selection == "best"):
            raise ValueError(f"validate_every must be >= 1, and 1 with selection 'best' (it selects by validation): "
                             f"got {self.validate_every} with selection {self.selection!r}")
        if self.gradient_precision not in GRADIENT_PRECISIONS:
            raise ValueError(f"unknown gradient_precision {self.gradient_precision!r}: use "
                             f"{' or '.join(GRADIENT_PRECISIONS)}")


SELECTIONS = ("best", "last", "average")


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
    """Linear warm-up, then cosine decay to 5% of the base rate over the epoch budget."""
    if epoch < cfg.warmup_epochs:
        return (epoch + 1) / (cfg.warmup_epochs + 1)
    progress = (epoch - cfg.warmup_epochs) / max(cfg.epochs - cfg.warmup_epochs, 1)
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
        progress: bool = True, teacher: nn.Module | None = None) -> tuple[dict, FoldHistory]:
    """Train with early stopping on validation UAR; returns the best state dict and the history. With a
    `teacher` (eval mode, frozen) and cfg.distill_weight > 0, its soft targets join the loss.

    `ckpt_dir/last.pt` is written after every epoch (model, optimizer, history, best so far) and read back
    when present, which is how `--resume` continues a killed run.
    """
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    # inverse class frequency over utterances (the unit that is scored), applied to every segment of a class
    counts = np.bincount(list(train.utt_labels.values()), minlength=n_classes).astype(np.float64)
    weights = counts.sum() / (n_classes * np.maximum(counts, 1)) if cfg.class_weights else np.ones(n_classes)
    loss_fn = nn.CrossEntropyLoss(weight=torch.tensor(weights, dtype=torch.float32),
                                  label_smoothing=cfg.label_smoothing)
    plain_loss = nn.CrossEntropyLoss(weight=torch.tensor(weights, dtype=torch.float32))
    if cfg.distill_weight > 0 and teacher is None:
        raise ValueError("distill_weight > 0 needs a teacher (ExperimentConfig.teacher / --teacher)")
    # inputs that change from batch to batch: the teacher must see each augmented batch
    augmented = bool(cfg.time_masks or cfg.freq_masks or cfg.mixup > 0 or cfg.speed_perturb > 0)
    cached_teacher = teacher_logits(teacher, train.x, cfg.batch_size) if cfg.distill_weight > 0 and not augmented \
        else None

    def validate() -> dict:  # with speaker batch norm, the validation speaker enrolled first
        return evaluate(adapt_batch_norm(model, val.x) if cfg.speaker_batch_norm else model, val, n_classes,
                        loss_fn=plain_loss)

    history, start, best, best_key, since_best = FoldHistory(), 0, None, (-1.0, 0.0), 0
    avg_sum, avg_count = None, 0  # selection "average": running sum of the last epochs' weights
    last = ckpt_dir / "last.pt"
    state = torch.load(last, weights_only=False) if last.exists() else None
    if state is not None:
        # before the optimizer exists: Brevitas' parameter scaling re-creates its Parameter on load, and an
        # optimizer built earlier would keep updating the orphaned one (caught by the resume test)
        model.load_state_dict(state["model"])
    opt = _optimizer(model, cfg)
    if state is not None:
        opt.load_state_dict(state["optimizer"])
        history = FoldHistory(**state["history"])
        start, best, since_best = state["epoch"] + 1, state["best"], state["since_best"]
        best_key = tuple(state["best_key"])
        avg_sum, avg_count = state.get("avg_sum"), state.get("avg_count", 0)
        log(f"{desc}: resumed after epoch {start}")
    for epoch in range(start, cfg.epochs):
        if cfg.selection == "best" and since_best >= cfg.patience:
            break
        t0 = time.time()
        torch.manual_seed(seed * 100_003 + epoch)
        gen = torch.Generator().manual_seed(seed * 100_003 + epoch)
        order = np.random.default_rng([seed, epoch]).permutation(len(train))
        mix_rng = np.random.default_rng([seed, epoch, 1])
        for group in opt.param_groups:
            group["lr"] = cfg.lr * lr_factor(epoch, cfg)
        model.train()
        total, n_seen = 0.0, 0
        if cfg.speaker_batch_norm:
            batches = speaker_batches(train, cfg.batch_size, np.random.default_rng([seed, epoch, 2]))
        else:
            batches = [order[s : s + cfg.batch_size] for s in range(0, len(order), cfg.batch_size)]
        batches = [b for b in batches if len(b) > 1]  # batch norm needs two samples
        bar = tqdm(batches, desc=f"{desc} ep {epoch + 1}/{cfg.epochs}", leave=False, disable=not progress,
                   unit="batch")
        with gradient_precision(cfg.gradient_precision):
            for idx in bar:
                xb = torch.from_numpy(train.x[idx])
                if cfg.speed_perturb > 0:
                    factors, offsets = random_speed(len(idx), cfg.speed_perturb, gen, cfg.speed_perturb_probability)
                    xb = speed_perturb(xb, factors, offsets)
                if cfg.time_masks or cfg.freq_masks:
                    xb = _mask(xb, cfg.time_masks, cfg.freq_masks, gen)
                yb = torch.from_numpy(train.y[idx])
                if cfg.mixup > 0:
                    lam = float(mix_rng.beta(cfg.mixup, cfg.mixup))
                    perm = torch.from_numpy(mix_rng.permutation(len(idx)))
                    xb = lam * xb + (1 - lam) * xb[perm]
                logits = model(xb)
                if cfg.mixup > 0:
                    loss = lam * loss_fn(logits, yb) + (1 - lam) * loss_fn(logits, yb[perm])
                else:
                    loss = loss_fn(logits, yb)
                if cfg.distill_weight > 0:
                    if cached_teacher is not None:
                        soft = cached_teacher[torch.from_numpy(idx)]
                    else:
                        with torch.no_grad():
                            soft = teacher(xb)
                    loss = (1 - cfg.distill_weight) * loss + cfg.distill_weight * distillation_loss(
                        logits, soft, cfg.distill_temperature)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                if hasattr(model, "clip_weights"):
                    model.clip_weights()
                total += loss.item() * len(idx)
                n_seen += len(idx)
                bar.set_postfix(loss=f"{total / n_seen:.3f}")
        validated = (epoch + 1) % cfg.validate_every == 0 or epoch == cfg.epochs - 1
        res = validate() if validated else {"loss": None, "uar": None}  # None: JSON null in the history
        history.train_loss.append(total / max(n_seen, 1))
        history.val_loss.append(res["loss"])
        history.val_uar.append(res["uar"])
        history.lr.append(opt.param_groups[0]["lr"])
        history.seconds.append(time.time() - t0)
        # best validation UAR; ties go to the lower validation loss
        key = (res["uar"], -res["loss"]) if validated else best_key
        improved = key > best_key and cfg.selection == "best"
        if cfg.selection == "average" and epoch >= cfg.epochs - cfg.average_epochs:
            sd = model.state_dict()
            if avg_sum is None:
                avg_sum = {k: v.detach().double().clone() for k, v in sd.items() if v.is_floating_point()}
            else:
                for k in avg_sum:
                    avg_sum[k] += sd[k].detach().double()
            avg_count += 1
        if improved:
            best_key, since_best, history.selected_epoch = key, 0, epoch + 1
            best = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            since_best += 1
        scores = f"val loss {res['loss']:.3f}  val UAR {res['uar']:.3f}" if validated else "(not validated)"
        log(f"{desc} epoch {epoch + 1:3d}  train loss {history.train_loss[-1]:.3f}  {scores}"
            f"{'  *' if improved else ''}  ({history.seconds[-1]:.1f} s)")
        tmp = last.with_name(f".last.{os.getpid()}.tmp")
        torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "history": asdict(history),
                    "epoch": epoch, "best": best, "best_key": list(best_key), "since_best": since_best,
                    "avg_sum": avg_sum, "avg_count": avg_count}, tmp)
        tmp.replace(last)
    if cfg.selection != "best":
        history.selected_epoch = len(history.val_uar)
        if cfg.selection == "average" and avg_count > 1:
            sd = model.state_dict()
            model.load_state_dict({k: (avg_sum[k] / avg_count).to(sd[k].dtype) if k in avg_sum else v
                                   for k, v in sd.items()})
            recompute_batch_norm(model, train)
            res = validate()
            log(f"{desc}: average of the last {avg_count} epochs' weights, batch norm re-estimated: "
                f"val UAR {res['uar']:.3f}")
            history.selected_val_uar = float(res["uar"])
        best = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return best, history
