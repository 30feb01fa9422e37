"""One participant of a call: an aiortc peer connection with the driving and control channels.

    peer = CallPeer(PeerConfig(signaling_url, room, token), source=VideoSource(path, 15),
                    renderer_factory=lambda: make_renderer("neural"))
    report = await peer.run(duration_s=60)       # CallReport(reason, stats, token)

The peer joins the room on the signaling server (`docs/signaling.md`); the first one in the room
makes the offer when the second arrives. Both channels are negotiated out of band (fixed ids), so
both sides create them identically. Each side that has a source sends `hello`, then driving
messages and source views; each side renders what it receives (`ReceiverSide`). The call ends on
`duration_s`, the other's `bye`, the other leaving the room, the connection failing or closing,
or `silence_timeout_s` without a driving message from a peer that was sending (counted from its
first driving message: a peer whose tracker is slow to start, e.g. a page warming FaceMesh, or
that sees no face yet, is not hung up on).

Speech (`PeerConfig.audio`). A source with an audio track (`VideoSource(..., audio=True)`) is
played on the video's clock: each loop's first frame anchors it, a task takes the samples due every
half frame, codes them (`SenderSide.add_audio`) and sends what waited too long alone
(`audio_due`); the rest rides in the driving messages. A `hello` with `audio` gets an
`AudioReceiver` (`receiver.audio`): its jitter buffer is played every 10 ms into `audio_sinks`
(the recorder), and its playout delay sets the video's schedule (lip sync). An audio message that
does not parse is dropped and counted (`audio_bad`); the call goes on.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlparse

import aioice.ice
from aiortc import (
    RTCConfiguration,
    RTCDataChannel,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.sdp import candidate_from_sdp

from codec.audio import AudioConfig
from codec.callstats import CallStats
from codec.fields import FieldSet
from codec.messages import (
    CONTROL_CHANNEL_ID,
    CONTROL_LABEL,
    DRIVING_CHANNEL_ID,
    DRIVING_LABEL,
    Bye,
    Hello,
    IntraRequest,
    ViewAssembler,
    encode_control,
    is_audio,
    parse_audio,
    parse_control,
)
from frontal.call.impair import Impairment
from frontal.call.transport import (
    SackPolicy,
    TransportCounters,
    count_stun,
    dtls_cipher,
    dtls_counters,
    install,
    prefer_chacha20,
)
from receiver.audio import AudioReceiver, AudioSink
from receiver.live import ReceiverConfig, ReceiverSide
from receiver.render import FrameRenderer
from sender.live import SenderConfig, SenderSide
from sender.sources import FrameSource
from sender.tracker import FaceTracker
from sender.views import ViewCandidate
from signaling.client import SignalingClient, SignalingClosed
from signaling.protocol import Answer, Candidate, Offer, PeerJoined, PeerLeft
from signaling.protocol import Bye as SignalingBye

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PeerConfig:
    signaling_url: str
    room: str
    token: str | None = None
    sender: SenderConfig = field(default_factory=SenderConfig)
    receiver: ReceiverConfig = field(default_factory=ReceiverConfig)
    ice_servers: tuple[RTCIceServer, ...] = ()  # e.g. STUN/TURN; none: host candidates only
    loopback_only: bool = False  # gather 127.0.0.1 only (tests, benchmark): nothing leaves the host
    wait_peer_s: float = 600.0
    connect_timeout_s: float = 20.0
    silence_timeout_s: float = 5.0
    stats_interval_s: float = 1.0
    sack_policy: SackPolicy = field(default_factory=SackPolicy)  # when our SCTP acknowledges (transport.py)
    chacha20: bool = True  # DTLS prefers ChaCha20-Poly1305: 8 bytes less per packet than AES-GCM
    fields: FieldSet | None = None  # what our driving stream carries (None: the 33 landmarks; a shape set: --renderer mesh)
    audio: bool = True  # send the source's speech (if it has some) and play the other's; False: --no-audio
    audio_config: AudioConfig = field(default_factory=AudioConfig)
    lip_sync: bool = True  # show each face frame when its voice plays (delays the video by the audio's playout delay)


@dataclass
class CallReport:
    # normal: duration | bye | source-ended | stopped. Otherwise: peer-left | silence | connection-failed |
    # channel-closed | aborted | interrupted | terminated | source-failed | renderer-failed | recorder-failed |
    # send-failed | watch-failed | signaling-failed | view-encoder-failed (a part of the call failed: logged)
    reason: str
    stats: dict[str, float | int]
    token: str | None
    remote_hello: Hello | None = None


class CallPeer:
    def __init__(self, config: PeerConfig, source: FrameSource | None,
                 renderer_factory: Callable[[], FrameRenderer], impairment: Impairment | None = None,
                 on_stats: Callable[[dict[str, float | int]], None] | None = None) -> None:
        self.config = config
        self.source = source
        self.impairment = impairment
        self.on_stats = on_stats
        self.stats = CallStats()
        self.receiver = ReceiverSide(renderer_factory, self.stats, self._send_intra_request, config.receiver)
        self.audio_track = getattr(source, "audio", None) if config.audio else None  # `sender.sources.SpeechSource`
        self.sender = (SenderSide(config.sender, self.stats, config.fields, defer_views=True,
                                  audio=config.audio_config if self.audio_track is not None else None)
                       if source is not None else None)
        self.audio_rx: AudioReceiver | None = None  # made by a hello with audio
        self.audio_sinks: list[AudioSink] = []  # where the other's speech plays (e.g. `Recorder.add_audio`)
        self.receiver.av_delay_ms = self._av_delay
        self.token: str | None = config.token
        self.joined = asyncio.Event()
        self.connected = asyncio.Event()
        self._end = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reason = "stopped"
        self._aborted = False
        self._pc: RTCPeerConnection | None = None
        self._driving: RTCDataChannel | None = None
        self._control: RTCDataChannel | None = None
        self._views = ViewAssembler()
        self._view_task: asyncio.Future[None] | None = None  # a source view being encoded in a thread
        self._last_driving = time.monotonic()
        self._heard_driving = False  # the silence timeout runs from the other's first driving message
        self.transport = TransportCounters()
        self.dtls_cipher: str | None = None

    # -- public ---------------------------------------------------------------------------------
    async def run(self, duration_s: float | None = None) -> CallReport:
        self._loop = asyncio.get_running_loop()
        with loopback_ice(self.config.loopback_only):
            try:
                await self._run(duration_s)
            finally:
                await self._cleanup()
        self._update_transport()
        return CallReport(self._reason, self.stats.snapshot(), self.token, self.receiver.hello)

    def hang_up(self, reason: str = "stopped") -> None:
        self._finish(reason)

    def abort(self) -> None:
        """Vanish: stop at once, without `bye` (tests: a peer that crashes mid-call)."""
        self._aborted = True
        self._finish("aborted")

    def fail(self, reason: str, error: BaseException | str) -> None:
        """End the call because a part of it failed (`reason`, e.g. `recorder-failed`): logged as
        an error, never a normal ending. Safe from any thread."""
        loop = self._loop
        if loop is None or loop.is_closed():
            log.error("%s (outside a call): %s", reason, error)
            return
        with contextlib.suppress(RuntimeError):  # the loop closed in between: the call is over
            loop.call_soon_threadsafe(self._fail, reason, error)

    def _fail(self, reason: str, error: BaseException | str) -> None:
        if self._end.is_set():
            log.warning("%s after the call ended: %s", reason, error)
            return
        log.error("the call ends (%s): %s", reason, error)
        self._finish(reason)

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """A background task of the call: if it raises, the call ends with `{name}-failed` (logged
        with its traceback), never silently."""
        task = asyncio.create_task(coro, name=f"call-{name}")

        def done(task: asyncio.Task[None]) -> None:
            if not task.cancelled() and task.exception() is not None:
                log.error("%s task failed", name, exc_info=task.exception())
                self._fail(f"{name}-failed", task.exception() or "")

        task.add_done_callback(done)
        return task

    async def _unless_ended(self, coro: Coroutine[Any, Any, None], timeout_s: float, what: str) -> bool:
        """Run `coro` to its end (True), unless the call ends first (False: `coro` is cancelled).
        Raises `TimeoutError` naming `what` after `timeout_s`, and whatever `coro` raises."""
        work = asyncio.ensure_future(coro)
        ended = asyncio.ensure_future(self._end.wait())
        try:
            done, _ = await asyncio.wait({work, ended}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ended.cancel()
            if not work.done():
                work.cancel()
                await asyncio.gather(work, return_exceptions=True)
        if work in done:
            work.result()
            return True
        if ended in done:
            return False
        raise TimeoutError(f"{what} within {timeout_s:g} s")

    # -- the call -------------------------------------------------------------------------------
    async def _prepare(self) -> None:
        """Start the tracker and the renderer before joining (both take seconds to load)."""
        loop = asyncio.get_running_loop()
        self.receiver.start()
        if self.source is not None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="call-track")
            self._tracker = await loop.run_in_executor(self._pool, FaceTracker)
            await loop.run_in_executor(self._pool, self.source.probe, self._tracker)  # a bad file: refused now
        deadline = time.monotonic() + 120.0
        while not (self.receiver.ready.is_set() or self._end.is_set()):  # a hang-up meanwhile is heard
            if time.monotonic() > deadline:
                raise TimeoutError("the renderer did not start within 120 s")
            await asyncio.sleep(0.05)
        if self.receiver.error is not None:
            raise RuntimeError(f"renderer failed to start: {self.receiver.error}")

    async def _run(self, duration_s: float | None) -> None:
        cfg = self.config
        await self._prepare()
        if self._end.is_set():
            return
        self._client = SignalingClient(cfg.signaling_url, cfg.room, cfg.token, proxy=_proxy_for(cfg.signaling_url))
        info = await self._client.connect()
        self.token = info.token
        self.joined.set()
        log.info("joined room %s as %s (%s)", info.room, info.peer_id, "offerer" if info.initiator else "answerer")
        pc = self._pc = RTCPeerConnection(RTCConfiguration(iceServers=list(cfg.ice_servers)))
        if cfg.chacha20:
            prefer_chacha20(pc)
        self._driving = pc.createDataChannel(DRIVING_LABEL, ordered=False, maxRetransmits=0,
                                             negotiated=True, id=DRIVING_CHANNEL_ID)
        self._control = pc.createDataChannel(CONTROL_LABEL, negotiated=True, id=CONTROL_CHANNEL_ID)
        install(pc, cfg.sack_policy, self.transport)
        self._wire(pc, self._driving, self._control)
        try:
            negotiated = await self._unless_ended(self._negotiate(pc, info.initiator),
                                                  cfg.wait_peer_s + cfg.connect_timeout_s, "no other peer answered")
        except SignalingClosed as exc:
            raise ConnectionError(f"the signaling server went away before the call started ({exc.message})") from None
        if not negotiated:
            return
        tasks = [self._spawn(self._signaling_loop(), "signaling")]
        try:
            if not await self._unless_ended(self._channels_open(), cfg.connect_timeout_s, "the connection did not open"):
                return
            self.connected.set()
            self.dtls_cipher = dtls_cipher(pc)
            log.info("connected (DTLS %s)", self.dtls_cipher)
            self.stats.start()
            epoch_ms = time.time() * 1000.0
            if self.sender is not None:
                self._control.send(self.sender.hello(epoch_ms))
                tasks.append(self._spawn(self._send_loop(), "send"))
                if self.audio_track is not None:
                    tasks.append(self._spawn(self._audio_loop(), "audio"))
            if cfg.audio:
                tasks.append(self._spawn(self._playout_loop(), "playout"))
            tasks.append(self._spawn(self._watch_loop(), "watch"))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._end.wait(), duration_s)
            self._finish("duration")
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _negotiate(self, pc: RTCPeerConnection, initiator: bool) -> None:
        if initiator:
            while not isinstance(await self._client.receive(), PeerJoined):
                pass
            await pc.setLocalDescription(await pc.createOffer())
            count_stun(pc, self.transport)
            await self._client.send(Offer(sdp=pc.localDescription.sdp))
            while not isinstance(message := await self._client.receive(), Answer):
                await self._candidate(message)
            await pc.setRemoteDescription(RTCSessionDescription(message.sdp, "answer"))
        else:
            while not isinstance(message := await self._client.receive(), Offer):
                await self._candidate(message)
            await pc.setRemoteDescription(RTCSessionDescription(message.sdp, "offer"))
            await pc.setLocalDescription(await pc.createAnswer())
            count_stun(pc, self.transport)
            await self._client.send(Answer(sdp=pc.localDescription.sdp))

    async def _candidate(self, message: object) -> None:
        if isinstance(message, Candidate) and message.candidate and self._pc is not None:
            try:
                cand = candidate_from_sdp(message.candidate.split(":", 1)[-1])
                cand.sdpMid, cand.sdpMLineIndex = message.sdp_mid, message.sdp_mline_index
                await self._pc.addIceCandidate(cand)
            except ValueError as exc:
                log.debug("remote candidate ignored: %s", exc)
        elif isinstance(message, PeerLeft):
            self._finish("peer-left")

    async def _channels_open(self) -> None:
        while not (self._driving and self._control and self._driving.readyState == "open"
                   and self._control.readyState == "open"):
            await asyncio.sleep(0.02)

    async def _signaling_loop(self) -> None:
        while True:
            try:
                message = await self._client.receive()
            except SignalingClosed:
                log.info("signaling connection closed; the call goes on")
                return
            if isinstance(message, PeerLeft):
                log.info("the other peer left the room (%s)", message.reason)
                self._finish("peer-left")
            elif isinstance(message, SignalingBye):
                self._finish("bye")
            else:
                await self._candidate(message)

    # -- channels -------------------------------------------------------------------------------
    def _wire(self, pc: RTCPeerConnection, driving: RTCDataChannel, control: RTCDataChannel) -> None:
        @pc.on("connectionstatechange")
        def _state() -> None:
            log.info("connection %s", pc.connectionState)
            if pc.connectionState == "failed":
                self._finish("connection-failed")

        @driving.on("message")
        def _driving(message: bytes | str) -> None:
            self._last_driving = time.monotonic()
            self._heard_driving = True
            if isinstance(message, str):
                self.stats.add(packets_bad=1)
                return
            if self.sender is not None:
                self.sender.on_remote_message(self._last_driving)
            if is_audio(message):
                try:
                    audio = parse_audio(message)
                except ValueError as exc:
                    log.debug("audio message dropped: %s", exc)
                    self.stats.add(audio_bad=1)
                    return
                if self.audio_rx is not None:
                    self.audio_rx.on_frames(audio.seq, audio.timestamp_ms, audio.frames, time.time() * 1000.0)
                if audio.driving is None:
                    return
                message = audio.driving
            self.receiver.on_driving(message)

        @control.on("message")
        def _control(message: bytes | str) -> None:
            self._receive_control(message)

        for channel in (driving, control):
            channel.on("close", lambda: self._finish("channel-closed") if self.connected.is_set() else None)

    def _receive_control(self, message: bytes | str) -> None:
        """One control message; one that does not parse (a foreign one included) is logged,
        counted (`control_bad`) and dropped."""
        try:
            self._on_control(message)
        except ValueError as exc:
            log.warning("control message refused: %s", exc)
            self.stats.add(control_bad=1)

    def _on_control(self, message: bytes | str) -> None:
        if isinstance(message, bytes):
            view = self._views.add(message)
            if view is not None:
                self.receiver.on_view(*view)
            return
        parsed = parse_control(message)
        if isinstance(parsed, Hello):
            self._last_driving = time.monotonic()
            self.receiver.on_hello(parsed)
            if parsed.audio is not None and self.config.audio:
                spec = parsed.audio
                if spec.rate != self.config.audio_config.rate:  # our sinks take our rate
                    raise ValueError(f"the other's speech is at {spec.rate} Hz, this peer plays {self.config.audio_config.rate} Hz")
                self.audio_rx = AudioReceiver(AudioConfig(spec.rate, spec.frame_ms, spec.bitrate), parsed.epoch_ms,
                                              self.stats, self.audio_sinks)
            if self.sender is not None:
                self.sender.on_remote_hello(parsed.fps, parsed.frames_per_message)
        elif isinstance(parsed, IntraRequest):
            if self.sender is not None:
                self.sender.request_intra()
        elif isinstance(parsed, Bye):
            log.info("the other peer hung up (%s)", parsed.reason)
            self._finish("bye")

    def _send_intra_request(self) -> None:
        self._send_control(encode_control(IntraRequest()))

    def _send_control(self, message: str | bytes) -> None:
        if self._control is not None and self._control.readyState == "open":
            self._control.send(message)

    def _send_driving(self, message: bytes) -> None:
        channel = self._driving
        if channel is None or channel.readyState != "open":
            return
        self.stats.add(driving_messages_sent=1, driving_bytes_sent=len(message))
        if self.impairment is not None:
            self.impairment.send(channel.send, message)
        else:
            channel.send(message)

    # -- loops ----------------------------------------------------------------------------------
    async def _send_loop(self) -> None:
        assert self.source is not None and self.sender is not None and self._driving is not None
        loop = asyncio.get_running_loop()
        pool, tracker = self._pool, self._tracker
        async for frame in self.source.frames(pool):
            capture_ms = time.time() * 1000.0
            if self.audio_track is not None and getattr(self.source, "frame_index", -1) == 0:
                self.audio_track.anchor(capture_ms)  # a loop starts: its speech plays from here
            tracked = await loop.run_in_executor(pool, tracker.track, frame)
            self.stats.add(frames_captured=1, track_ms_total=tracked.track_ms)
            congested = self._driving.bufferedAmount > self.config.sender.max_buffered_bytes
            if self.audio_track is not None:  # the speech up to now rides this message, not only what the last tick coded
                self._take_audio(time.time() * 1000.0)
            out = self.sender.process(tracked, capture_ms, time.monotonic(), congested)
            for message in out.control:
                self._send_control(message)
            if out.audio is not None:
                self._send_driving(out.audio)
            if out.driving is not None:
                self._send_driving(out.driving)
            if out.view is not None:  # AVIF takes 20-30 ms: not on the event loop
                self._view_task = self._spawn(self._encode_view(out.view), "view-encoder")
        self._flush_driving()
        if self.stats.frames_captured == 0:
            self._fail("source-failed", "the source gave no frame")
        self._finish("source-ended")

    async def _audio_loop(self) -> None:
        """Every half frame: code the source's speech up to now; send what waited too long alone."""
        assert self.audio_track is not None and self.sender is not None
        period = self.config.audio_config.frame_ms / 2000.0
        while True:
            await asyncio.sleep(period)
            now = time.time() * 1000.0
            self._take_audio(now)
            for message in self.sender.audio_due(now):
                self._send_driving(message)

    def _take_audio(self, now_ms: float) -> None:
        """Code the source's speech up to `now_ms` (whole frames; the rest waits for the next take)."""
        assert self.audio_track is not None and self.sender is not None
        taken = self.audio_track.take(now_ms)
        if taken is not None:
            self.sender.add_audio(taken[1], taken[0])

    async def _playout_loop(self) -> None:
        """Every 10 ms: the other's speech due by now goes to the sinks."""
        while True:
            await asyncio.sleep(0.01)
            if self.audio_rx is not None:
                self.audio_rx.tick(time.time() * 1000.0)

    def _av_delay(self) -> float | None:
        """Lip sync: the speech's playout delay, while it plays (None: schedule video as without speech)."""
        rx = self.audio_rx
        return rx.delay_ms if self.config.lip_sync and rx is not None and rx.playing else None

    async def _encode_view(self, view: ViewCandidate) -> None:
        """Encode a source view off the event loop; an error ends the call (`_spawn`): without
        views the other side can show nothing."""
        assert self.sender is not None
        data = await asyncio.get_running_loop().run_in_executor(None, self.sender.encode_view, view)
        self.sender.add_encoded_view(view, data)

    def _flush_driving(self) -> None:
        """Send a half-filled bundle (the call is ending; its partner frame will never come)."""
        if self.sender is not None:
            message = self.sender.flush()
            if message is not None:
                self._send_driving(message)
            for message in self.sender.flush_audio():
                self._send_driving(message)

    async def _watch_loop(self) -> None:
        cfg = self.config
        while True:
            await asyncio.sleep(min(cfg.stats_interval_s, 0.5))
            self._update_transport()
            if self.receiver.error is not None:
                self._fail("renderer-failed", self.receiver.error)
            silent = time.monotonic() - self._last_driving
            if self._heard_driving and silent > cfg.silence_timeout_s:
                log.warning("no driving packet for %.1f s: the other peer is gone", silent)
                self._finish("silence")
            if self.on_stats is not None:
                self.on_stats(self.stats.snapshot())

    def _update_transport(self) -> None:
        counts = dtls_counters(self._pc)
        if counts is not None:
            self.stats.transport_bytes_sent, self.stats.transport_packets_sent = counts
        self.stats.sctp = self.transport.as_dict()

    def _finish(self, reason: str) -> None:
        if not self._end.is_set():
            self._reason = reason
            self._end.set()

    async def _cleanup(self) -> None:
        if self._view_task is not None and not self._view_task.done():
            self._view_task.cancel()
        self._update_transport()
        if not self._aborted and self._reason != "bye":
            with contextlib.suppress(Exception):
                self._flush_driving()
                self._send_control(encode_control(Bye(reason=self._reason)))
                await asyncio.sleep(0.05)
        self.stats_at_end = self.stats.snapshot()
        # every step is bounded (2.6 s in all, bye included): a dead partner or server never holds the exit
        loop = asyncio.get_running_loop()
        steps: list[Awaitable[object]] = [loop.run_in_executor(None, self.receiver.close, 1.5)]
        if self._pc is not None:
            steps.append(self._pc.close())
        client = getattr(self, "_client", None)
        if client is not None:
            steps.append(client.close())
        await _bounded(asyncio.gather(*steps), 2.0, "closing the connection")
        pool = getattr(self, "_pool", None)
        if pool is not None:
            tracker = getattr(self, "_tracker", None)
            if tracker is not None:
                await _bounded(loop.run_in_executor(pool, tracker.close), 0.5, "closing the tracker")
            pool.shutdown(wait=False)


async def _bounded(aw: Awaitable[object], timeout_s: float, what: str) -> None:
    """Await `aw` for at most `timeout_s`; a timeout or an error is logged, not raised (cleanup)."""
    try:
        await asyncio.wait_for(aw, timeout_s)
    except TimeoutError:
        log.warning("%s took over %.1f s: left behind", what, timeout_s)
    except Exception as exc:  # noqa: BLE001 - cleanup goes on whatever one step raises
        log.warning("%s failed: %s", what, exc)


def _proxy_for(url: str) -> Literal[True] | None:
    """Connect directly to a loopback signaling server; honour proxy settings otherwise."""
    host = urlparse(url).hostname or ""
    return None if host in ("127.0.0.1", "localhost", "::1") else True


class _LoopbackIce:
    """Makes aioice gather 127.0.0.1 only, while at least one loopback-only peer runs.

    aioice has no per-connection interface filter and leaves loopback out of its host candidates,
    so this swaps its module function (restored when the last such peer ends).
    """

    lock = threading.Lock()
    users = 0
    original = aioice.ice.get_host_addresses

    @classmethod
    @contextlib.contextmanager
    def scope(cls) -> Iterator[None]:
        with cls.lock:
            if cls.users == 0:
                aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"] if use_ipv4 else []
            cls.users += 1
        try:
            yield
        finally:
            with cls.lock:
                cls.users -= 1
                if cls.users == 0:
                    aioice.ice.get_host_addresses = cls.original


@contextlib.contextmanager
def loopback_ice(enabled: bool) -> Iterator[None]:
    if not enabled:
        yield
        return
    with _LoopbackIce.scope():
        yield
