"""The receiving side: the `Renderer` (source views + driving records -> frames) and its benchmark.

Imported lazily so that `import receiver` does not load torch:
`from receiver import Renderer` or `from receiver.renderer import Renderer`.
"""
from __future__ import annotations

from typing import Any

__all__ = ["NoSourceError", "Renderer"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from receiver import renderer  # noqa: PLC0415 (torch costs ~2 s at start-up; `import receiver` stays cheap)

        return getattr(renderer, name)
    raise AttributeError(f"module 'receiver' has no attribute {name!r}")
