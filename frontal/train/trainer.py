"""The trainer: one generator (a `FrontalModel`), an optional discriminator, Adam, step decays,
checkpoints with exact resume, validation images and a training curve in the run folder.

Exact resume: every random draw of step `s` (the batch, flips, jitter, the equivariance warp)
comes from generators seeded with `(seed, s)`, the learning rate is a function of `s`, and the
checkpoint holds the weights, the BatchNorm statistics, the discriminator's spectral-norm vectors
and every optimizer moment; so stopping after step `s` and resuming gives the same weights as an
uninterrupted run (tested on the CPU, where the kernels are deterministic).

One step (the paper's four-frame sampling): sources A, C are encoded and fused once; the two
drivings B1, B2 are rendered from that fusion with their own landmarks, detector keypoints and
expression code ("free" conditioning, learned only through the image losses).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from codec.atomic import atomic_write
from frontal.train import state as st
from frontal.train.data import Augment, Batch, ClipStore, DataError, FaceTubes, collate
from frontal.train.losses import (
    DiscriminatorConfig,
    MultiScaleDiscriminator,
    RandomTps,
    Vgg19Perceptual,
    discriminator_loss,
    equivariance_loss,
    feature_matching,
    generator_adversarial,
    ms_ssim,
    multiscale_l1,
)
from frontal.train.plots import save_curve, save_grid
from models.checkpoint import config_to_json, load_checkpoint, save_checkpoint
from models.generator import FrontalModel, ModelConfig, Prepared, SourceSet
from models.registry import build_untrained, get_config

log = logging.getLogger(__name__)

VAL_SEED_OFFSET = 1_000_000_007


@dataclass(frozen=True)
class LossWeights:
    """Weights of the generator's loss terms (FOM's values where FOM has the term)."""

    l1: float = 10.0  # multi-scale L1 (mean over 4 scales)
    msssim: float = 5.0  # 1 - MS-SSIM
    perceptual: float = 10.0  # VGG19, only with a weights file
    adversarial: float = 1.0
    feature_matching: float = 10.0
    equivariance: float = 10.0
    equivariance_jacobian: float = 10.0


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides the training trajectory (saved in run.json, checked on resume)."""

    model: str = "frontalizer-mobile"
    steps: int = 100_000
    batch_size: int = 4
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.99)
    decay_at: tuple[float, ...] = (0.6, 0.9)  # fractions of `steps`
    decay_factor: float = 0.1
    sampling: str = "abbc"
    gan: bool = True
    gan_loss: str = "lsgan"
    discriminator: DiscriminatorConfig = DiscriminatorConfig()
    weights: LossWeights = LossWeights()
    augment: Augment = Augment()
    rotation_weight: float = 2.0  # clips with > 0.3 rad of yaw range are drawn this much more often
    val_percent: int = 20
    seed: int = 0
    checkpoint_every: int = 100
    val_every: int = 200
    val_examples: int = 4
    keep_checkpoints: int = 2
    init: str = ""  # warm start: a checkpoint of the same model config to start from (its sha256 in init_sha256)
    init_sha256: str = ""

    def milestones(self) -> list[int]:
        return [int(round(f * self.steps)) for f in self.decay_at]

    def lr_at(self, step: int) -> float:
        return self.lr * self.decay_factor ** sum(step >= m for m in self.milestones())


def config_dict(cfg: Any) -> Any:
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


class StepLosses(NamedTuple):
    values: dict[str, float]
    seconds: float


class Trainer:
    """Trains `cfg.model` (or `model_cfg`) on a prepared folder; `run()` until `cfg.steps`."""

    def __init__(self, cfg: TrainConfig, run_dir: str | Path, data: str | Path | FaceTubes,
                 val_data: FaceTubes | None = None, model_cfg: ModelConfig | None = None,
                 device: str | torch.device | None = None, vgg_weights: str | Path | None = None,
                 resume: bool = False, progress: bool = True) -> None:
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model_cfg = model_cfg or get_config(cfg.model)
        self.progress = progress
        if isinstance(data, FaceTubes):
            self.data, self.val = data, val_data
        else:
            self.data = FaceTubes(ClipStore(data, "train", cfg.val_percent), cfg.sampling, cfg.augment,
                                  cfg.rotation_weight)
            try:
                self.val = FaceTubes(ClipStore(data, "val", cfg.val_percent), cfg.sampling, Augment.none())
            except DataError:
                self.val = None
        self.model = build_untrained(self.model_cfg, cfg.seed).to(self.device).train()
        self.disc: MultiScaleDiscriminator | None = None
        if cfg.gan:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(cfg.seed + 1)
                self.disc = MultiScaleDiscriminator(cfg.discriminator).to(self.device).train()
        self.vgg = Vgg19Perceptual(vgg_weights).to(self.device) if vgg_weights else None
        self.opt_g = torch.optim.Adam(self.model.parameters(), lr=cfg.lr, betas=cfg.betas)
        self.opt_d = (torch.optim.Adam(self.disc.parameters(), lr=cfg.lr, betas=cfg.betas)
                      if self.disc is not None else None)
        self.step = 0
        self.history: list[dict[str, float]] = []
        self.wall_s = 0.0
        self._prepare_run(resume)

    def _warm_start(self, path: str, sha256: str) -> None:
        """Start from the weights of `path` (same model config); optimiser and schedule start afresh."""


        data = Path(path).read_bytes()
        if sha256 and hashlib.sha256(data).hexdigest() != sha256:
            raise ValueError(f"--init {path}: the file changed since the run started (sha256 differs)")
        ckpt = load_checkpoint(path, expected_config=self.model_cfg)
        self.model.load_state_dict(ckpt.model.state_dict())

    # -- run folder -----------------------------------------------------------------------------
    def _run_meta(self) -> dict[str, Any]:
        return {"train": config_dict(self.cfg), "model_config": json.loads(config_to_json(self.model_cfg)),
                "vgg": self.vgg is not None}

    def _prepare_run(self, resume: bool) -> None:
        meta_path = self.run_dir / "run.json"
        if resume:
            ckpt = st.latest_checkpoint(self.run_dir) if meta_path.is_file() else None
            if ckpt is None:
                raise st.StateError(f"{self.run_dir}: nothing to resume (no run.json or no checkpoint)")
            saved = json.loads(meta_path.read_text())
            if saved != self._run_meta():
                diff = [k for k in saved["train"] if saved["train"].get(k) != self._run_meta()["train"].get(k)]
                raise st.StateError(f"{meta_path}: the run was started with another configuration "
                                    f"(differs in: {', '.join(diff) or 'model config / vgg'})")
            self._load(ckpt)
            log.info("resumed %s at step %d", self.run_dir, self.step)
            return
        if meta_path.exists():
            raise st.StateError(f"{self.run_dir}: a run already exists there (use --resume, or another --out)")
        if self.cfg.init:  # a fresh run only: a resumed one takes its weights from its checkpoint
            self._warm_start(self.cfg.init, self.cfg.init_sha256)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if not self.cfg.init and self.model.frontalizer is not None and self.model_cfg.driving_fields.n_sup:
            mean = frontal_mean(self.data.store)
            if mean is not None:
                self.model.frontalizer.set_reference(torch.from_numpy(mean))
        atomic_write(meta_path, json.dumps(self._run_meta(), indent=1).encode())

    def save(self) -> Path:
        tensors: dict[str, torch.Tensor] = {}
        t, meta_g = st.flatten_optimizer(self.opt_g, "g")
        tensors.update(t)
        meta: dict[str, Any] = {"g": meta_g}
        if self.opt_d is not None:
            t, meta["d"] = st.flatten_optimizer(self.opt_d, "d")
            tensors.update(t)
        tensors["rng.torch"] = torch.get_rng_state()
        writers: dict[str, Callable[[Path], None]] = {
            "model.safetensors": lambda p: save_checkpoint(self.model, p, self.cfg.model),
            "optimizer.safetensors": lambda p: save_file(tensors, str(p)),
        }
        if self.disc is not None:
            writers["discriminator.safetensors"] = lambda p: st.save_module(self.disc, p)
        state = {"step": self.step, "optimizers": meta, "history": self.history, "wall_s": self.wall_s,
                 "device": str(self.device)}
        path = st.write_checkpoint(self.run_dir, f"step-{self.step:06d}", writers, state,
                                   self.cfg.keep_checkpoints)
        self._write_curve()
        return path

    def _load(self, ckpt: Path) -> None:
        state = st.read_state(ckpt)

        loaded = load_checkpoint(ckpt / "model.safetensors", expected_config=self.model_cfg).model
        self.model.load_state_dict(loaded.state_dict())
        self.model.train()
        if self.disc is not None:
            st.load_module(self.disc, ckpt / "discriminator.safetensors")
        tensors = load_file(str(ckpt / "optimizer.safetensors"))
        st.restore_optimizer(self.opt_g, "g", tensors, state["optimizers"]["g"])
        if self.opt_d is not None:
            st.restore_optimizer(self.opt_d, "d", tensors, state["optimizers"]["d"])
        torch.set_rng_state(tensors["rng.torch"])
        self.step = int(state["step"])
        self.history = list(state["history"])
        self.wall_s = float(state["wall_s"])

    # -- training -------------------------------------------------------------------------------
    def run(self, stop: Callable[[], bool] | None = None, max_steps: int | None = None) -> int:
        """Train until `cfg.steps` (or `max_steps` more steps, or `stop()` is true after a step);
        checkpoint at intervals and at the end. Returns the step reached."""
        end = self.cfg.steps if max_steps is None else min(self.cfg.steps, self.step + max_steps)
        bar = None
        if self.progress:

            bar = tqdm(total=self.cfg.steps, initial=self.step, desc=self.cfg.model, mininterval=2.0,
                       dynamic_ncols=True)
        try:
            while self.step < end:
                res = self.train_step()
                self.wall_s += res.seconds
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix({k: f"{v:.3f}" for k, v in res.values.items() if k in SHOWN})
                if self.step % self.cfg.val_every == 0 or self.step == self.cfg.steps:
                    self.validate()
                if self.step % self.cfg.checkpoint_every == 0 or self.step == end:
                    self.save()
                if stop is not None and stop():
                    if self.step % self.cfg.checkpoint_every and self.step != end:
                        self.save()
                    break
        finally:
            if bar is not None:
                bar.close()
        return self.step

    def train_step(self) -> StepLosses:
        """One optimisation step of the generator (and of the discriminator)."""
        t0 = time.perf_counter()
        step = self.step
        rng = np.random.default_rng([self.cfg.seed, step])
        gen = torch.Generator().manual_seed(self.cfg.seed * 1_000_003 + step)
        torch.manual_seed(self.cfg.seed * 7_919 + step)
        lr = self.cfg.lr_at(step)
        for opt in (self.opt_g, self.opt_d):
            if opt is not None:
                for group in opt.param_groups:
                    group["lr"] = lr
        batch = self.data.batch(rng, self.cfg.batch_size).to(self.device)
        tps = RandomTps(batch.driving.shape[0] * 2, gen, device=self.device)
        losses, image, target = self.generator_losses(batch, tps)
        total = sum(losses[k] * w for k, w in self._weights().items() if k in losses)
        if not torch.isfinite(total):
            raise FloatingPointError(f"step {step}: the generator loss is not finite ({losses})")
        self.opt_g.zero_grad(set_to_none=True)
        total.backward()
        self.opt_g.step()
        values = {k: float(v.detach()) for k, v in losses.items()}
        values["total"] = float(total.detach())
        if self.disc is not None and self.opt_d is not None:
            d_loss = discriminator_loss(self.disc(target), self.disc(image.detach()), self.cfg.gan_loss)
            self.opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            self.opt_d.step()
            values["disc"] = float(d_loss.detach())
        self.step = step + 1
        seconds = time.perf_counter() - t0
        values.update(step=float(self.step), lr=lr, seconds=seconds)
        self.history.append(values)
        return StepLosses(values, seconds)

    def _weights(self) -> dict[str, float]:
        w = self.cfg.weights
        return {"l1": w.l1, "msssim": w.msssim, "perceptual": w.perceptual, "adversarial": w.adversarial,
                "feature_matching": w.feature_matching, "equivariance": w.equivariance,
                "equivariance_jacobian": w.equivariance_jacobian}

    def generator_losses(self, batch: Batch, tps: RandomTps | None
                         ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        """(loss terms, rendered `[2B, 3, H, W]`, targets `[2B, 3, H, W]`) of one batch."""
        out = render_batch(self.model, batch)
        image, target = out.image, batch.driving.flatten(0, 1)
        losses = {"l1": multiscale_l1(image, target), "msssim": 1.0 - ms_ssim(image, target).mean()}
        if self.vgg is not None:
            losses["perceptual"] = self.vgg(image, target)
        if self.disc is not None:
            real, fake = self.disc(target), self.disc(image)
            losses["adversarial"] = generator_adversarial(fake, self.cfg.gan_loss)
            losses["feature_matching"] = feature_matching(real, fake)
        f = self.model_cfg.driving_fields
        if tps is not None and f.n_unsup and self.cfg.weights.equivariance:
            eq = equivariance_loss(self.model.keypoint_detector, target, out.unsup, out.jac, tps)
            losses["equivariance"] = eq.value
            if eq.jacobian is not None:
                losses["equivariance_jacobian"] = eq.jacobian
        return losses, image, target

    # -- validation -----------------------------------------------------------------------------
    def val_batch(self) -> Batch | None:
        if self.val is None:
            return None
        rng = np.random.default_rng([self.cfg.seed, VAL_SEED_OFFSET])
        n = min(self.cfg.val_examples, len(self.val.store))
        clips = rng.choice(len(self.val.store), size=n, replace=False)

        return collate([self.val.example(rng, int(c)) for c in clips]).to(self.device)

    def validate(self) -> dict[str, float] | None:
        """L1 and PSNR of the fixed validation examples (eval mode); writes `val/step-N.png`."""
        batch = self.val_batch()
        if batch is None:
            return None
        self.model.eval()
        with torch.no_grad():
            out = render_batch(self.model, batch)
        self.model.train()
        target = batch.driving.flatten(0, 1)
        mse = ((out.image - target) ** 2).flatten(1).mean(1).clamp(min=1e-10)
        res = {"val_l1": float((out.image - target).abs().mean()),
               "val_psnr": float((10 * torch.log10(1.0 / mse)).mean())}
        if self.history:
            self.history[-1].update(res)

        save_grid(self.run_dir / "val" / f"step-{self.step:06d}.png", batch, out.image)
        log.info("step %d: val L1 %.4f, PSNR %.2f dB", self.step, res["val_l1"], res["val_psnr"])
        return res

    def _write_curve(self) -> None:

        save_curve(self.run_dir / "curve.png", self.history, self.cfg.model)


SHOWN = ("total", "l1", "msssim", "equivariance", "adversarial", "disc")


class BatchRender(NamedTuple):
    """`image [2B, 3, H, W]` for drivings (B1, B2) of each example; the driving detector outputs."""

    image: torch.Tensor
    unsup: torch.Tensor
    jac: torch.Tensor | None
    expr: torch.Tensor | None


def render_batch(model: FrontalModel, batch: Batch) -> BatchRender:
    """The training forward: sources encoded and fused once per example, both drivings rendered.

    Uses only `FrontalModel`'s public pieces (encode_sources, prepare_sources, render) so the
    sources are not encoded twice."""
    f = model.cfg.driving_fields
    drive = batch.driving.flatten(0, 1)  # [2B, 3, H, W]: ex0 B1, ex0 B2, ex1 B1, ...
    det = model.keypoint_detector(drive)
    expr = model.expression(det.centre) if model.expression is not None else None
    jac = det.jacobian if f.jacobians else None
    sup = batch.driving_sup.flatten(0, 1) if f.n_sup else None
    kp = model.join_keypoints(sup, det.kp if f.n_unsup else None)
    prepared = model.prepare_sources(model.encode_sources(batch.sources, batch.source_sup if f.n_sup else None))
    per = batch.driving.shape[1]
    out = model.render(repeat_prepared(prepared, per), kp, jac, expr)
    return BatchRender(out.image, det.kp, jac, expr)


def repeat_prepared(p: Prepared, n: int) -> Prepared:
    """Each example's prepared sources repeated `n` times along the batch (repeat_interleave)."""
    rep = lambda t: None if t is None else t.repeat_interleave(n, dim=0)  # noqa: E731
    src = SourceSet(*(rep(t) for t in p.sources))
    fusion = None if p.fusion is None else type(p.fusion)(*(rep(t) for t in p.fusion))
    return Prepared(rep(p.embedding), rep(p.kp), src, fusion)


def frontal_mean(store: ClipStore, max_yaw: float = 0.1) -> np.ndarray | None:
    """Mean supervised layout `[33, 2]` of the near-frontal frames (|yaw| < max_yaw) of a store."""
    rows = [c.sup[c.valid & (np.abs(c.yaw) < max_yaw)] for c in store.clips]
    pts = np.concatenate([r for r in rows if len(r)], axis=0) if any(len(r) for r in rows) else None
    if pts is None or not math.isfinite(float(pts.sum())):
        return None
    return pts.mean(axis=0).astype(np.float32)
