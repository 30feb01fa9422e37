"""The `frontal` command: a thin dispatcher to each subcommand's own `main(argv) -> int`.

Subcommands live next to the code they drive (codec/, receiver/, signaling/, ...); each module
parses its own arguments, so adding one never touches the others.
"""
from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence

from frontal import __version__

# name -> (module or module:function, one-line help). Modules are imported lazily: `frontal serve` never loads torch.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "encode": ("frontal.files", "encode a video into a compact .frontal file"),
    "decode": ("frontal.files", "decode a .frontal file to an .mp4"),
    "info": ("frontal.files", "print a .frontal file's header and stream statistics"),
    "bench-track": ("sender.bench", "benchmark face tracking (ms/frame)"),
    "train": ("frontal.train.cli:main_train", "train a model on prepared face tubes (resumable)"),
    "train-refiner": ("frontal.train.refiner", "train the geometry renderer's refiner network (resumable)"),
    "evaluate": ("frontal.train.cli:main_evaluate", "evaluate models on held-out identities (PSNR, SSIM, VMAF, NME, identity)"),
    "fit-tables": ("frontal.fit", "fit the entropy coder's probability tables on tracked data"),
    "fit-shape": ("frontal.fit_shape", "fit the dense face shape model and its tables on tracked data"),
    "set-render-options": ("frontal.render_options", "copy a checkpoint with other render options (same tensors)"),
    "prepare": ("frontal.prepare", "track videos into cached face tubes, landmarks and head pose"),
    "bench-render": ("receiver.bench", "benchmark the renderer (ms/frame, FPS, params, MACs)"),
    "bench-mesh-render": ("frontal.mesh_check", "geometry renderer on tracked meshes: PSNR/SSIM, ms/frame (upper bound)"),
    "merge-reports": ("frontal.report.merge", "one summary over several codec-loopback --report runs"),
    "quality": ("frontal.eval.__main__", "quality metrics of a decoded video against its reference"),
    "classical": ("frontal.eval.classical", "classical-codec baselines and their lowest bitrate"),
    "call": ("frontal.call.cli", "join a live call (camera, video file or browser page)"),
    "bench-call": ("frontal.call.bench", "a loopback call: payload/wire kbps, latency, FPS"),
    "bench-views": ("frontal.call.viewbench", "source-view image formats: bytes at equal quality"),
    "bench-audio": ("frontal.call.audiobench", "speech coding: PESQ of Opus at the call's settings, with and without loss"),
    "bench-page": ("frontal.pagebench", "the browser page's cost per frame, measured in headless Chromium"),
    "serve": ("frontal.serve", "run the signaling server and the web app (create a room, invite, join)"),
    "bench-signaling": ("signaling.bench", "load-test the signaling server on loopback"),
}


def _usage() -> str:
    lines = ["usage: frontal COMMAND [ARGS...]", "", "commands:"]
    for name, (_, text) in SUBCOMMANDS.items():
        lines.append(f"  {name:<20}{text}")
    lines.append("")
    lines.append("`frontal COMMAND --help` for a command's options.")
    return "\n".join(lines)


def _resolve(name: str) -> Callable[[list[str]], int]:
    """A "module:function" target, or the module's `command_<name>` or `main`."""
    target, _ = SUBCOMMANDS[name]
    module_name, _, func = target.partition(":")
    module = importlib.import_module(module_name)
    if func:
        return getattr(module, func)
    return getattr(module, "command_" + name.replace("-", "_"), None) or module.main


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(_usage())
        return 0 if args else 2
    if args[0] == "--version":

        print(f"frontal {__version__}")
        return 0
    name, rest = args[0], args[1:]
    if name not in SUBCOMMANDS:
        print(f"frontal: unknown command '{name}' (see `frontal --help`)", file=sys.stderr)
        return 2
    return int(_resolve(name)(rest) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
