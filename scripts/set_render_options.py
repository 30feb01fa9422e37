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
import hashlib
import sys
from pathlib import Path

from codec.atomic import atomic_write
from models.checkpoint import CheckpointError, checkpoint_bytes, load_checkpoint, read_metadata
from models.generator import FrontalModel, with_render_options


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
        ckpt = load_checkpoint(args.src)
        cfg = with_render_options(ckpt.config, pixel_path=args.pixel_path, compose_warps=args.compose_warps,
                                  view_temperature=args.view_temperature)
        model = FrontalModel(cfg)
        model.load_state_dict(ckpt.model.state_dict())
    except (OSError, KeyError, ValueError, CheckpointError) as exc:
        print(f"set_render_options: {exc}", file=sys.stderr)
        return 1
    args.dst.parent.mkdir(parents=True, exist_ok=True)
    data = checkpoint_bytes(model, name)
    atomic_write(args.dst, data)
    print(f"{args.dst}: sha256 {hashlib.sha256(data).hexdigest()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
