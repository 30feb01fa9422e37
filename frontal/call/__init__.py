"""A live two-party call: aiortc peers exchanging driving packets and source views.

`frontal call` (`frontal.call.cli`), the loopback benchmark (`frontal.call.bench`) and the
browser page's local server (`frontal.call.browser`). Architecture and messages: docs/call.md.
"""
