"""Process settings for the renderer."""
from __future__ import annotations

import sys

import pytest

from receiver.runtime import keep_heap_memory


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_keep_heap_memory_on_glibc() -> None:
    assert keep_heap_memory() is True
    assert keep_heap_memory() is True  # idempotent
