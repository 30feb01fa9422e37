"""The one error type the decoding side raises for anything it cannot accept."""
from __future__ import annotations


class CodecError(ValueError):
    """A packet, file or table the codec cannot accept: foreign, truncated, corrupt or mismatched.

    A live receiver catches this, counts the packet as lost and keeps rendering.
    """
