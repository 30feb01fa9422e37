"""`frontal set-render-options`: copy a checkpoint with other render options (same tensors, new config).

    frontal set-render-options IN.safetensors OUT.safetensors [--pixel-path | --no-pixel-path]
        [--compose-warps | --no-compose-warps] [--view-temperature T] [-f]

Render options are the config fields left out of config equality (`ModelConfig.pixel_path`,
`FrontalizerConfig.compose_warps`, `FrontalizerConfig.view_temperature`): no parameter depends on
them, and a checkpoint renders with the ones it stores. Options not given keep their stored value.
A config that `validate_config` rejects is refused; OUT is written atomically and never overwritten
without `-f`.
"""
from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Sequence
from pathlib import Path

from codec.atomic import atomic_write
from models.checkpoint import checkpoint_bytes, load_checkpoint
from models.generator import FrontalModel, with_render_options

PROG = "frontal set-render-options"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="Copy a checkpoint with other render options: the same "
                                "tensors, a new stored config. Options not given keep their stored value.")
    p.add_argument("src", type=Path, metavar="IN", help="checkpoint to read (a models/checkpoint.py file)")
    p.add_argument("dst", type=Path, metavar="OUT", help="checkpoint to write")
    p.add_argument("--pixel-path", action=argparse.BooleanOptionalAction, help="ModelConfig.pixel_path")
    p.add_argument("--compose-warps", action=argparse.BooleanOptionalAction, help="FrontalizerConfig.compose_warps")
    p.add_argument("--view-temperature", type=float, metavar="T", help="FrontalizerConfig.view_temperature (0: off)")
    p.add_argument("-f", "--force", action="store_true", help="overwrite OUT")
    return p


def set_render_options(src: Path, *, pixel_path: bool | None = None, compose_warps: bool | None = None,
                       view_temperature: float | None = None) -> bytes:
    """The bytes of `src`'s checkpoint with the render options given (None: keep the stored one).

    Raises `CheckpointError` for an unreadable checkpoint, `ValueError` for a rejected config.
    """
    ckpt = load_checkpoint(src)
    cfg = with_render_options(ckpt.config, pixel_path=pixel_path, compose_warps=compose_warps,
                              view_temperature=view_temperature)
    model = FrontalModel(cfg)
    model.load_state_dict(ckpt.model.state_dict())
    return checkpoint_bytes(model, ckpt.name)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        if not args.src.is_file():
            raise ValueError(f"no such file: {args.src}")
        if args.dst.exists() and not args.force:
            raise ValueError(f"{args.dst} exists (use -f to overwrite)")
        if not args.dst.parent.is_dir():
            raise ValueError(f"output folder {args.dst.parent} does not exist")
        data = set_render_options(args.src, pixel_path=args.pixel_path, compose_warps=args.compose_warps,
                                  view_temperature=args.view_temperature)
        atomic_write(args.dst, data)
    except (OSError, ValueError) as exc:  # CheckpointError is a ValueError
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    print(f"{args.dst}: sha256 {hashlib.sha256(data).hexdigest()}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
