"""`frontal train` and `frontal evaluate`.

    frontal train --config frontalizer-mobile --data .cache/faces15c --out runs/NAME [--resume]
    frontal evaluate --model frontalizer-mobile --model fom-mobile --data .cache/faces15c [--json PATH]
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from frontal.train.data import Augment, DataError
from frontal.train.evaluate import main
from frontal.train.state import StateError
from frontal.train.trainer import TrainConfig, Trainer
from models.checkpoint import CheckpointError
from models.generator import with_render_options
from models.registry import get_config, model_names

if TYPE_CHECKING:
    from models.generator import ModelConfig


def _train_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="frontal train", description="train a model on prepared face tubes")
    p.add_argument("--config", default="frontalizer-mobile", help="registry model name (default %(default)s)")
    p.add_argument("--data", required=True, help="folder written by `frontal prepare` (with crops)")
    p.add_argument("--out", required=True, help="run folder (checkpoints, val images, curve)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out where it stopped")
    p.add_argument("--steps", type=int, default=100_000, help="total steps of the run (default %(default)s)")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--sampling", choices=("abc", "abbc"), default="abbc")
    p.add_argument("--no-gan", action="store_true", help="no discriminator (no adversarial / feature matching)")
    p.add_argument("--gan-loss", choices=("lsgan", "hinge"), default="lsgan")
    p.add_argument("--vgg-weights", help="VGG19 weights (.safetensors, torchvision names): adds the perceptual loss")
    p.add_argument("--no-flip", action="store_true")
    p.add_argument("--no-jitter", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint-every", type=int, default=100)
    p.add_argument("--val-every", type=int, default=200)
    p.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--max-steps", type=int, help="stop after this many steps in this session (resumable)")
    p.add_argument("--init", help="start from this checkpoint's weights (same model config); a new optimiser and schedule")
    p.add_argument("--view-temperature", type=float, default=0.0,
                   help="Frontalizer models: train (and store in the checkpoints) per-frame view selection "
                        "with this temperature, e.g. 0.05 (default 0: off; docs/models.md)")
    p.add_argument("--pixel-path", action="store_true",
                   help="train through the pixel path (ModelConfig.pixel_path: the loss sees the occlusion-"
                        "weighted blend of the views' pixels and the decoder's image; stored in the checkpoints)")
    p.add_argument("--no-progress", action="store_true")
    return p


def model_config(name: str, view_temperature: float = 0.0, pixel_path: bool = False) -> ModelConfig:
    """The registry's config of `name`, with per-frame view selection at `view_temperature` (> 0)
    and the pixel path (`pixel_path`) when asked for."""

    cfg = get_config(name)
    if not view_temperature and not pixel_path:
        return cfg
    try:
        return with_render_options(cfg, view_temperature=view_temperature or None, pixel_path=pixel_path or None)
    except ValueError as exc:
        asked = " ".join(a for a, on in ((f"--view-temperature {view_temperature}", view_temperature),
                                         ("--pixel-path", pixel_path)) if on)
        raise ValueError(f"{asked} for {name}: {exc}") from None


def _sha256(path: str) -> str:

    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError as exc:
        raise SystemExit(f"frontal train: cannot read --init {path}: {exc.strerror}") from None


def main_train(argv: Sequence[str] | None = None) -> int:
    args = _train_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")


    if args.config not in model_names():
        print(f"frontal train: unknown model {args.config!r}; known: {', '.join(model_names())}", file=sys.stderr)
        return 2
    if args.steps < 1 or args.batch_size < 1:
        print("frontal train: --steps and --batch-size must be >= 1", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    aug = Augment()
    if args.no_flip:
        aug = dataclasses.replace(aug, flip_prob=0.0)
    if args.no_jitter:
        aug = dataclasses.replace(aug, brightness=0.0, contrast=0.0, saturation=0.0, hue=0.0)
    cfg = TrainConfig(model=args.config, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                      sampling=args.sampling, gan=not args.no_gan, gan_loss=args.gan_loss, augment=aug,
                      seed=args.seed, checkpoint_every=args.checkpoint_every, val_every=args.val_every,
                      init=str(Path(args.init).resolve()) if args.init else "",
                      init_sha256=_sha256(args.init) if args.init else "")
    try:
        model_cfg = model_config(args.config, args.view_temperature, args.pixel_path)
    except ValueError as exc:
        print(f"frontal train: {exc}", file=sys.stderr)
        return 2
    try:
        trainer = Trainer(cfg, args.out, args.data, model_cfg=model_cfg, device=args.device,
                          vgg_weights=args.vgg_weights, resume=args.resume, progress=not args.no_progress)
    except (StateError, DataError, ValueError, FileNotFoundError, CheckpointError) as exc:
        print(f"frontal train: {exc}", file=sys.stderr)
        return 1
    stopping = {"flag": False}

    def _stop(signum: int, _frame: object) -> None:
        logging.getLogger(__name__).warning("signal %d: stopping after this step (checkpoint saved)", signum)
        stopping["flag"] = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    step = trainer.run(stop=lambda: stopping["flag"], max_steps=args.max_steps)
    print(f"{args.config}: step {step}/{cfg.steps}, {trainer.wall_s / 60:.1f} min of training, "
          f"checkpoint {Path(args.out) / 'checkpoints'}")
    return 0


def main_evaluate(argv: Sequence[str] | None = None) -> int:

    return main(argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main_train())
