"""Signaling for two-party calls: rooms of two, SDP/ICE relay over WebSocket (docs/signaling.md).

Modules: `protocol` (wire messages), `rooms` (registry), `session` (one WebSocket), `app`
(FastAPI app), `server` (uvicorn on a socket), `client` (asyncio client), `cli` (`frontal serve`),
`bench` (`frontal bench-signaling`). Importing this package imports none of them.
"""
