"""Frontal: a neural video-call codec for links of a few kilobits per second."""

__version__ = "0.1.0"
