"""`frontal train-refiner`: train the geometry renderer's refiner (`models.refiner`) on CPU, resumably.

    frontal prepare ../shared/data/faces --out .cache/faces15c --fps 15        # crops included
    frontal train-refiner .cache/faces15c --work .cache/refiner --steps 6000   # resumable
    frontal train-refiner .cache/faces15c --work .cache/refiner --export models/weights/mesh-refiner.safetensors

1. Pairs (built once, cached in WORK/pairs_{split}.npz): for each clip of the split, the frames a
   call's receiver draws: the dense face shape fitted per frame and coded as the call codes it
   (predictive, the shipped shape tables, decoded), the source views chosen live by the call's own
   selector and byte budget (`frontal.views_live`, each with its coded record, used from the frame
   it arrives at), and each frame drawn by the geometry renderer without refiner. Every `--every`-th
   frame after the first view is kept: (render, its face blend weight, the real crop).
2. Training: L1 on the image plus L1 on its horizontal and vertical differences, Adam, random
   crops of `--crop` pixels, horizontal flips. WORK/state.safetensors holds the weights, the
   optimiser's moments and the step; a run stopped at any point resumes from its last save
   (`--save-every`). The validation identities' pairs are scored (PSNR of render and refined
   against the real frame) at each save, into WORK/log.jsonl.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from codec.atomic import AtomicFile
from codec.fields import FieldSet
from codec.stream import StreamDecoder, StreamEncoder
from codec.tables import load_tables, tables_path_for
from frontal.pipeline import MESH, model_fields
from frontal.train.data import ClipStore, DataError
from frontal.views_live import SourcedRenderer, SourcePlan, ViewRecords, frames_of_arrays, schedule_views
from models.refiner import Refiner, RefinerConfig, save_refiner
from receiver.render import MeshFrameRenderer
from sender.live import SenderConfig
from sender.shape import ShapeFitter

log = logging.getLogger(__name__)

STATE_FORMAT = "frontal-refiner-state"


def clip_pairs(path: Path, fields: FieldSet, every: int) -> dict[str, np.ndarray] | None:
    """The (render, alpha, target) pairs of one prepared clip (module docstring), or None when no
    view arrives within it."""
    with np.load(path, allow_pickle=False) as z:
        crops, landmarks, sup = z["crops"], z["landmarks"].astype(np.float32), z["sup"].astype(np.float32)
        pose, found, fps = z["pose"], z["face_found"], float(z["fps"])
    tables = load_tables(tables_path_for(fields))
    fitter = ShapeFitter(k=fields.n_shape)
    records = [fitter.record(lm) for lm in landmarks]
    enc, dec = StreamEncoder(fields, tables, mode="predictive", fps=fps), StreamDecoder(fields, tables)
    decoded = [dec.decode(enc.encode(r, timestamp_ms=int(i * 1000 / fps)).packet).record for i, r in enumerate(records)]
    shape = ViewRecords(records, fields, tables, "predictive")
    schedule = schedule_views(frames_of_arrays(crops, landmarks, sup, pose, found), fps, SenderConfig(), shape)
    plan = SourcePlan.live(schedule)
    first = plan.first_arrival
    if first is None:
        return None
    renderer = MeshFrameRenderer()
    source = SourcedRenderer(renderer, plan)
    keep = [i for i in range(first, len(crops), every) if found[i]]
    renders, alphas = [], []
    for i in keep:
        source.prepare(i)
        frame = renderer.draw(decoded[i])
        renders.append(frame.image)
        alphas.append(np.rint(frame.alpha * 255.0).astype(np.uint8))
    return {"render": np.stack(renders), "alpha": np.stack(alphas), "target": crops[keep]}


def build_pairs(folder: Path, split: str, out: Path, every: int, max_clips: int | None = None, quiet: bool = False) -> Path:
    """Pairs of every clip of `split` into `out` (an .npz, written atomically)."""
    store = ClipStore(folder, split)
    fields = model_fields(MESH)
    parts: dict[str, list[np.ndarray]] = {"render": [], "alpha": [], "target": []}
    clips = store.clips[:max_clips]
    for clip in tqdm(clips, desc=f"{split} pairs", unit="clip", disable=quiet, file=sys.stderr):
        pairs = clip_pairs(clip.path, fields, every)
        if pairs is None:
            log.warning("%s: no source view arrived: no pairs", clip.path.name)
            continue
        for k, v in pairs.items():
            parts[k].append(v)
    if not parts["render"]:
        raise DataError(f"{folder}: no {split} clip gave a pair")
    arrays = {k: np.concatenate(v) for k, v in parts.items()}
    target = AtomicFile(out)
    try:
        with open(target.tmp, "wb") as f:
            np.savez(f, **arrays)
        target.commit()
    finally:
        target.discard()
    return out


def load_pairs(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in ("render", "alpha", "target")}


def to_tensors(pairs: dict[str, np.ndarray], index: np.ndarray, crop: int | None, rng: np.random.Generator,
               flip: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    render, alpha, target = pairs["render"][index], pairs["alpha"][index], pairs["target"][index]
    size = render.shape[1]
    if crop is not None and crop < size:
        y, x = (int(v) // 8 * 8 for v in rng.integers(0, size - crop + 1, 2))
        render, alpha, target = (a[:, y:y + crop, x:x + crop] for a in (render, alpha, target))
    if flip and rng.random() < 0.5:
        render, alpha, target = (a[:, :, ::-1] for a in (render, alpha, target))

    def image(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a)).permute(0, 3, 1, 2).float().div_(255.0)

    return image(render), torch.from_numpy(np.ascontiguousarray(alpha))[:, None].float().div_(255.0), image(target)


def loss_fn(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    l1 = (out - target).abs().mean()
    dx = ((out[..., :, 1:] - out[..., :, :-1]) - (target[..., :, 1:] - target[..., :, :-1])).abs().mean()
    dy = ((out[..., 1:, :] - out[..., :-1, :]) - (target[..., 1:, :] - target[..., :-1, :])).abs().mean()
    return l1 + 0.5 * (dx + dy)


def evaluate(model: Refiner, pairs: dict[str, np.ndarray], batch: int = 8) -> dict[str, float]:
    """PSNR (dB) of the render and of the refined frame against the real one, over all pairs."""
    model.eval()
    err_r = err_o = 0.0
    n = len(pairs["render"])
    with torch.inference_mode():
        for s in range(0, n, batch):
            idx = np.arange(s, min(n, s + batch))
            r, a, t = to_tensors(pairs, idx, None, np.random.default_rng(0), False)
            err_r += F.mse_loss(r, t, reduction="sum").item()
            err_o += F.mse_loss(model(r, a).image, t, reduction="sum").item()
    model.train()
    px = n * 3 * pairs["render"].shape[1] * pairs["render"].shape[2]
    return {"psnr_render": float(10 * np.log10(px / max(err_r, 1e-10))), "psnr_refined": float(10 * np.log10(px / max(err_o, 1e-10)))}


def save_state(path: Path, model: Refiner, opt: torch.optim.Optimizer, step: int) -> None:
    tensors = {f"model.{k}": v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    for i, p in enumerate(model.parameters()):
        st = opt.state.get(p, {})
        for k in ("exp_avg", "exp_avg_sq"):
            if k in st:
                tensors[f"opt.{i}.{k}"] = st[k].detach().clone().contiguous()
    meta = {"format": STATE_FORMAT, "step": str(step),
            "config": json.dumps({"channels": list(model.config.channels), "residual_scale": model.config.residual_scale})}
    target = AtomicFile(path)
    try:
        save_file(tensors, str(target.tmp), metadata=meta)
        target.commit()
    finally:
        target.discard()


def load_state(path: Path, model: Refiner, opt: torch.optim.Optimizer | None = None) -> int:
    """Load the weights (and, given `opt`, the optimiser's moments) saved at `path`; the step."""
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    if meta.get("format") != STATE_FORMAT:
        raise DataError(f"{path}: not a refiner training state")
    step = int(meta.get("step", "0"))
    tensors = load_file(str(path))
    model.load_state_dict({k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")})
    if opt is None:
        return step
    for i, p in enumerate(model.parameters()):
        if f"opt.{i}.exp_avg" in tensors:
            opt.state[p] = {"step": torch.tensor(float(step)), "exp_avg": tensors[f"opt.{i}.exp_avg"],
                            "exp_avg_sq": tensors[f"opt.{i}.exp_avg_sq"]}
    return step


def train(work: Path, steps: int, batch: int, crop: int, lr: float, save_every: int, seed: int, quiet: bool) -> int:
    pairs = load_pairs(work / "pairs_train.npz")
    val = load_pairs(work / "pairs_val.npz") if (work / "pairs_val.npz").is_file() else None
    torch.manual_seed(seed)  # the initial weights (a resume loads its own)
    model = Refiner(RefinerConfig())
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    state = work / "state.safetensors"
    step = load_state(state, model, opt) if state.is_file() else 0
    if step:
        log.info("resumed at step %d", step)
    n = len(pairs["render"])
    t0 = time.perf_counter()
    with tqdm(total=steps, initial=step, desc="train-refiner", unit="step", disable=quiet, file=sys.stderr) as bar:
        running = None
        while step < steps:
            rng = np.random.default_rng([seed, step])
            idx = np.sort(rng.choice(n, size=min(batch, n), replace=False))
            render, alpha, target = to_tensors(pairs, idx, crop, rng, True)
            loss = loss_fn(model(render, alpha).image, target)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
            bar.set_postfix(loss=f"{running:.4f}")
            bar.update(1)
            if step % save_every == 0 or step == steps:
                save_state(state, model, opt, step)
                entry: dict[str, Any] = {"step": step, "loss": running, "seconds": time.perf_counter() - t0}
                if val is not None:
                    entry.update(evaluate(model, val))
                with open(work / "log.jsonl", "a") as f:
                    f.write(json.dumps(entry) + "\n")
                log.info("%s", entry)
    return step


def export(work: Path, out: Path) -> None:
    model = Refiner(RefinerConfig())
    step = load_state(work / "state.safetensors", model)
    target = AtomicFile(out)
    try:
        save_refiner(model, target.tmp, {"steps": str(step), "trained_by": "frontal train-refiner"})
        target.commit()
    finally:
        target.discard()


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="frontal train-refiner", description="train the geometry renderer's refiner (resumable)")
    ap.add_argument("data", type=Path, help="a prepared folder with crops (frontal prepare ... --out DIR)")
    ap.add_argument("--work", type=Path, required=True, help="folder for the cached pairs, the training state and its log")
    ap.add_argument("--steps", type=int, default=6000, help="train up to this many steps in all (default 6000)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=160, help="random crop side in pixels, a multiple of 8 (default 160)")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--every", type=int, default=3, help="keep every Nth frame of a clip as a pair (default 3)")
    ap.add_argument("--max-val-clips", type=int, default=8, help="validation clips scored at each save (default 8)")
    ap.add_argument("--save-every", type=int, default=250)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--export", type=Path, default=None, metavar="FILE", help="write the trained refiner's weights here and stop")
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(max(1, args.threads))
    try:
        if args.crop % 8 or args.crop < 32 or args.batch < 1 or args.steps < 0 or args.every < 1 or args.save_every < 1:
            raise ValueError("--crop a multiple of 8 (>= 32), --batch, --every, --save-every >= 1, --steps >= 0")
        args.work.mkdir(parents=True, exist_ok=True)
        if args.export is not None:
            export(args.work, args.export)
            print(f"wrote {args.export}")
            return 0
        if not (args.work / "pairs_train.npz").is_file():
            build_pairs(args.data, "train", args.work / "pairs_train.npz", args.every, quiet=args.quiet)
        if args.max_val_clips > 0 and not (args.work / "pairs_val.npz").is_file():
            build_pairs(args.data, "val", args.work / "pairs_val.npz", args.every * 2, args.max_val_clips, args.quiet)
        step = train(args.work, args.steps, args.batch, args.crop, args.lr, args.save_every, args.seed, args.quiet)
        print(f"trained to step {step}: {args.work / 'state.safetensors'}")
    except (DataError, ValueError, OSError) as exc:
        print(f"frontal train-refiner: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
