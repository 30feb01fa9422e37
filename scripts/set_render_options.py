"""Copy a checkpoint with other render options (the same tensors; only the stored config changes).

    python scripts/set_render_options.py IN.safetensors OUT.safetensors [--pixel-path | --no-pixel-path]
        [--view-temperature T] [--compose-warps | --no-compose-warps]

Render options are the config fields left out of config equality (`ModelConfig.pixel_path`,
`FrontalizerConfig.compose_warps`, `FrontalizerConfig.view_temperature`): no parameter depends on
them, and a checkpoint renders with the ones it stores. Options not given keep their stored value.
OUT is written atomically; the script refuses to write a config `validate_config` rejects.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import sys
import tempfile
from pathlib import Path

from models.checkpoint import CheckpointError, load_checkpoint, read_metadata, save_checkpoint
from models.generator import FrontalModel, validate_config


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("src", type=Path)
    p.add_argument("dst", type=Path)
    p.add_argument("--pixel-path", action=argparse.BooleanOptionalAction)
    p.add_argument("--compose-warps", action=argparse.BooleanOptionalAction)
    p.add_argument("--view-temperature", type=float)
    args = p.parse_args()
    try:
        name = read_metadata(args.src)["model_name"]
        cfg = load_checkpoint(args.src).config
        fr = cfg.frontalizer
        if (args.compose_warps is not None or args.view_temperature is not None) and fr is None:
            raise ValueError("--compose-warps / --view-temperature: the model has no Frontalizer")
        if fr is not None:
            fr = dataclasses.replace(
                fr, compose_warps=fr.compose_warps if args.compose_warps is None else args.compose_warps,
                view_temperature=fr.view_temperature if args.view_temperature is None else args.view_temperature)
        cfg = dataclasses.replace(cfg, frontalizer=fr,
                                  pixel_path=cfg.pixel_path if args.pixel_path is None else args.pixel_path)
        validate_config(cfg)
        model = FrontalModel(cfg)
        model.load_state_dict(load_checkpoint(args.src).model.state_dict())
    except (OSError, KeyError, ValueError, CheckpointError) as exc:
        print(f"set_render_options: {exc}", file=sys.stderr)
        return 1
    args.dst.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=args.dst.parent, suffix=".tmp", delete=False) as tmp:
        tmp_path = Path(tmp.name)
    try:
        save_checkpoint(model, tmp_path, name)
        tmp_path.replace(args.dst)
    finally:
        tmp_path.unlink(missing_ok=True)
    print(f"{args.dst}: sha256 {hashlib.sha256(args.dst.read_bytes()).hexdigest()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
