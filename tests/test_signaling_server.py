"""The signaling server end to end: a real uvicorn on 127.0.0.1 (ephemeral port) per test."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from signaling.app import create_app
from signaling.client import Invite, SignalingClient, SignalingClosed, SignalingError, create_room
from signaling.config import ServerConfig
from signaling.protocol import (
    Answer,
    AppMessage,
    Bye,
    Candidate,
    Error,
    ErrorCode,
    Message,
    Offer,
    PeerJoined,
    PeerLeft,
)
from signaling.ratelimit import KeyedLimiter
from signaling.rooms import NO_ACCESS
from signaling.server import ServerThread

T = TypeVar("T")
TIMEOUT_S = 5.0


def run(coro: Awaitable[T]) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coro, 20.0)

    return asyncio.run(bounded())


@pytest.fixture
def server() -> Iterator[ServerThread]:
    with ServerThread(ServerConfig(join_timeout_s=2.0)) as srv:
        yield srv


@pytest.fixture
def make_server() -> Iterator[Callable[[ServerConfig], ServerThread]]:
    started: list[ServerThread] = []

    def make(config: ServerConfig) -> ServerThread:
        srv = ServerThread(config)
        srv.start()
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.stop()


async def receive(client: SignalingClient) -> Message:
    return await asyncio.wait_for(client.receive(), TIMEOUT_S)


async def nothing_more(client: SignalingClient, wait_s: float = 0.2) -> None:
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(client.receive(), wait_s)


async def invite(url: str) -> Invite:
    """A new room and its token from the server (`POST /rooms`)."""
    return await asyncio.to_thread(create_room, url, proxy=None)


async def joined(url: str, room: Invite) -> SignalingClient:
    client = SignalingClient(url, room.room, room.token)
    await client.connect()
    return client


async def pair(url: str) -> tuple[SignalingClient, SignalingClient]:
    """Two peers joined in a new room; the `peer-joined` notice to the first is consumed."""
    room = await invite(url)
    a = await joined(url, room)
    b = await joined(url, room)
    assert isinstance(await receive(a), PeerJoined)
    return a, b


async def assert_relays(sender: SignalingClient, receiver: SignalingClient) -> None:
    await sender.send(AppMessage(data={"ping": 1}))
    got = await receive(receiver)
    assert isinstance(got, AppMessage) and got.data == {"ping": 1}
    assert got.from_ == sender.info.peer_id


async def raw_join(
    url: str, room: str, token: str | None
) -> tuple[ClientConnection, dict[str, Any]]:
    ws = await connect(url, compression=None)
    await ws.send(json.dumps({"type": "join", "room": room, "token": token}))
    return ws, json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT_S))


async def refusal(url: str, room: str, token: str | None) -> SignalingError:
    with pytest.raises(SignalingError) as info:
        await SignalingClient(url, room, token).connect()
    return info.value


def health(srv: ServerThread) -> dict[str, Any]:
    return dict(httpx.get(srv.url + "/healthz", timeout=TIMEOUT_S).json())


# --- joining and relaying -------------------------------------------------------------------


def test_two_peers_join_and_relay_offer_answer_candidates(server: ServerThread) -> None:
    async def scenario() -> None:
        room = await invite(server.ws_url)
        a = SignalingClient(server.ws_url, room.room, room.token)
        info_a = await a.connect()
        assert info_a.initiator and info_a.peers == 1
        assert (info_a.room, info_a.token) == (room.room, room.token)
        b = SignalingClient(server.ws_url, room.room, room.token)
        info_b = await b.connect()
        assert not info_b.initiator and info_b.peers == 2
        assert await receive(a) == PeerJoined(peer_id=info_b.peer_id)

        await a.send(Offer(sdp="v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n"))
        offer = await receive(b)
        assert (
            isinstance(offer, Offer)
            and offer.sdp.startswith("v=0")
            and offer.from_ == info_a.peer_id
        )
        await b.send(Answer(sdp="v=0\r\n"))
        assert isinstance(await receive(a), Answer)
        candidate = Candidate(
            candidate="candidate:1 1 udp 2122 127.0.0.1 5000 typ host",
            sdp_mid="0",
            sdp_mline_index=0,
        )
        await b.send(candidate)
        got = await receive(a)
        assert isinstance(got, Candidate) and got.candidate == candidate.candidate
        assert (got.sdp_mid, got.sdp_mline_index, got.from_) == ("0", 0, info_b.peer_id)
        await a.send(Candidate(candidate=""))  # end of candidates
        assert isinstance(await receive(b), Candidate)
        await a.send(Bye(reason="hang up"))
        assert isinstance(await receive(b), Bye)
        await assert_relays(b, a)  # a bye ends the call, not the room
        await a.close()
        await b.close()

    run(scenario())
    assert health(server) == {"status": "ok", "rooms": 1, "peers": 0}  # the room waits (rooms.py)


def test_rooms_are_issued_over_http_with_their_token(server: ServerThread) -> None:
    first = httpx.post(server.url + "/rooms", timeout=TIMEOUT_S)
    second = httpx.post(server.url + "/rooms", timeout=TIMEOUT_S)
    assert first.status_code == second.status_code == 201
    assert first.headers["cache-control"] == "no-store"
    a, b = first.json(), second.json()
    assert set(a) == {"room", "token"} and len(a["room"]) >= 16 and len(a["token"]) >= 32
    assert a["room"] != b["room"] and a["token"] != b["token"]
    assert httpx.get(server.url + "/rooms", timeout=TIMEOUT_S).status_code == 405
    assert health(server) == {"status": "ok", "rooms": 2, "peers": 0}


def test_a_room_cannot_be_squatted_or_probed(server: ServerThread) -> None:
    """Reproduction 4: a join created a missing room with the joiner's token, and a wrong token
    on an existing room (`bad-token`) told a prober the room existed."""

    async def scenario() -> None:
        room = await invite(server.ws_url)
        answers = []
        for name, token in [("kitchen", "squatter-token"), ("kitchen", None),
                            (room.room, "squatter-token"), (room.room, None)]:
            ws, reply = await raw_join(server.ws_url, name, token)
            await asyncio.wait_for(ws.wait_closed(), TIMEOUT_S)
            answers.append((reply, ws.close_code))
        assert all(a == answers[0] for a in answers)  # the same answer, room or no room
        assert answers[0] == ({"type": "error", "code": "bad-token", "message": NO_ACCESS, "fatal": True}, 1008)
        assert health(server)["rooms"] == 1  # no join made a room
        a = await joined(server.ws_url, room)  # the invite still works
        assert a.info.initiator
        await a.close()

    run(scenario())


# --- refusals ---------------------------------------------------------------------------------


def test_wrong_token_is_refused_and_room_unaffected(server: ServerThread) -> None:
    async def scenario() -> None:
        room = await invite(server.ws_url)
        a = await joined(server.ws_url, room)
        ws, reply = await raw_join(server.ws_url, room.room, "not-the-token")
        assert reply["type"] == "error" and reply["code"] == "bad-token" and reply["fatal"]
        await asyncio.wait_for(ws.wait_closed(), TIMEOUT_S)
        assert ws.close_code == 1008
        await nothing_more(a)  # a was not told anything
        b = SignalingClient(server.ws_url, room.room, room.token)
        assert (await b.connect()).peers == 2
        assert isinstance(await receive(a), PeerJoined)
        await assert_relays(a, b)
        await a.close()
        await b.close()

    run(scenario())


def test_third_joiner_is_refused_and_room_unaffected(server: ServerThread) -> None:
    async def scenario() -> None:
        a, b = await pair(server.ws_url)
        error = await refusal(server.ws_url, a.room, a.token)
        assert error.code == "room-full"
        await nothing_more(a)
        await assert_relays(a, b)
        await assert_relays(b, a)
        assert health(server)["peers"] == 2
        await a.close()
        await b.close()

    run(scenario())


def test_invalid_room_and_server_full_are_refused(
    make_server: Callable[[ServerConfig], ServerThread],
) -> None:
    srv = make_server(ServerConfig(max_rooms=1))

    async def scenario() -> None:
        with pytest.raises(ValueError):  # the client checks before sending
            await SignalingClient(srv.ws_url, "bad room!", None).connect()
        ws, reply = await raw_join(srv.ws_url, "bad room!", None)
        assert (reply["code"], reply["fatal"]) == ("malformed", True)
        await ws.close()
        await invite(srv.ws_url)
        with pytest.raises(SignalingError) as full:
            await invite(srv.ws_url)
        assert full.value.code == "server-full"

    run(scenario())
    assert httpx.post(srv.url + "/rooms", timeout=TIMEOUT_S).status_code == 503


def test_one_address_cannot_issue_rooms_without_limit(
    make_server: Callable[[ServerConfig], ServerThread],
) -> None:
    """POST /rooms: a burst, then 429 with Retry-After and a one-line reason; the client raises it
    as `rate-limited`; the bucket refills."""
    srv = make_server(ServerConfig(rooms_per_minute=60.0, rooms_burst=3))
    codes = [httpx.post(srv.url + "/rooms", timeout=TIMEOUT_S).status_code for _ in range(3)]
    assert codes == [201, 201, 201]
    refused = httpx.post(srv.url + "/rooms", timeout=TIMEOUT_S)
    assert refused.status_code == 429 and 1 <= int(refused.headers["retry-after"]) <= 2
    assert refused.json()["error"] == "rate-limited" and "\n" not in refused.json()["message"]
    with pytest.raises(SignalingError) as limited:
        create_room(srv.ws_url, proxy=None)
    assert limited.value.code == "rate-limited"
    time.sleep(1.1)  # one room a second
    assert httpx.post(srv.url + "/rooms", timeout=TIMEOUT_S).status_code == 201


def test_keyed_limiter_keeps_one_bucket_per_address_and_forgets_the_oldest() -> None:
    now = [0.0]
    limiter = KeyedLimiter(rate=1.0, burst=2, max_keys=2, clock=lambda: now[0])
    assert [limiter.allow("a"), limiter.allow("a")] == [0.0, 0.0]
    assert limiter.allow("a") == pytest.approx(1.0)  # a third at once: wait a second
    assert limiter.allow("b") == 0.0  # another address has its own bucket
    limiter.allow("c")  # a third address: "a", the least recently seen, is forgotten ...
    assert limiter.allow("a") == 0.0  # ... and comes back with a full bucket, "b" forgotten now
    now[0] += 0.5  # every bucket gains half a token
    assert limiter.allow("a") == 0.0 and limiter.allow("a") == pytest.approx(0.5)
    assert limiter.allow("c") == 0.0


def test_first_message_must_be_a_valid_join(server: ServerThread) -> None:
    async def scenario() -> None:
        for first, code in [
            ("{oops", "malformed"),
            ('{"type":"offer","sdp":"v=0"}', "expected-join"),
        ]:
            async with connect(server.ws_url, compression=None) as ws:
                await ws.send(first)
                reply = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT_S))
                assert (reply["code"], reply["fatal"]) == (code, True)
                await asyncio.wait_for(ws.wait_closed(), TIMEOUT_S)
                assert ws.close_code == 1008

    run(scenario())


def test_silent_connection_is_closed_after_join_timeout(
    make_server: Callable[[ServerConfig], ServerThread],
) -> None:
    srv = make_server(ServerConfig(join_timeout_s=0.2))

    async def scenario() -> None:
        async with connect(srv.ws_url, compression=None) as ws:
            reply = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT_S))
            assert reply["code"] == "join-timeout"
            await asyncio.wait_for(ws.wait_closed(), TIMEOUT_S)

    run(scenario())


@pytest.mark.parametrize(
    "bad",
    [
        "definitely not json",
        '{"type": "offer"}',
        '{"type": "teleport", "to": "mars"}',
        '{"type": "answer", "sdp": "v=0", "admin": true}',
        b"\x00binary\xff",
        '{"type": "join", "room": "again", "token": null}',
    ],
)
def test_malformed_message_is_refused_and_room_still_works(
    server: ServerThread, bad: str | bytes
) -> None:
    async def scenario() -> None:
        a, b = await pair(server.ws_url)
        await a._connection().send(bad)
        error = await receive(a)
        assert isinstance(error, Error) and not error.fatal
        assert error.code in (ErrorCode.MALFORMED, ErrorCode.ALREADY_JOINED)
        await nothing_more(b)  # nothing of it reached the other peer
        await assert_relays(a, b)  # the offender stays: one bad message is not a strike-out
        await assert_relays(b, a)
        await a.close()
        await b.close()

    run(scenario())


def test_oversized_message_is_refused_and_room_still_works(server: ServerThread) -> None:
    async def scenario() -> None:
        a, b = await pair(server.ws_url)
        await a.send_text(json.dumps({"type": "offer", "sdp": "x" * 70_000}))
        error = await receive(a)
        assert isinstance(error, Error) and error.code is ErrorCode.TOO_LARGE and not error.fatal
        await nothing_more(b)
        await assert_relays(a, b)
        await a.close()
        await b.close()

    run(scenario())


def test_frame_over_transport_cap_drops_only_the_offender(server: ServerThread) -> None:
    async def scenario() -> None:
        a, b = await pair(server.ws_url)
        await a.send_text("x" * (server.config.ws_max_frame_bytes + 1))
        with pytest.raises(SignalingClosed) as closed:
            while True:
                await receive(a)
        assert closed.value.close_code == 1009
        left = await receive(b)
        assert isinstance(left, PeerLeft) and left.peer_id == a.info.peer_id
        c = SignalingClient(server.ws_url, b.room, b.token)
        assert (await c.connect()).peers == 2
        await assert_relays(b, c)
        await b.close()
        await c.close()

    run(scenario())


def test_rate_limit_drops_excess_messages(
    make_server: Callable[[ServerConfig], ServerThread],
) -> None:
    srv = make_server(ServerConfig(rate_per_s=2.0, rate_burst=5, max_strikes=100))

    async def drain(client: SignalingClient) -> list[Message]:
        messages: list[Message] = []
        while True:
            try:
                messages.append(await asyncio.wait_for(client.receive(), 0.5))
            except TimeoutError:
                return messages

    async def scenario() -> None:
        a, b = await pair(srv.ws_url)
        for seq in range(20):
            await a.send(AppMessage(data=seq))
        relayed, errors = await drain(b), await drain(a)
        assert 5 <= len(relayed) <= 8 and len(relayed) + len(errors) == 20  # burst + a refill
        assert [m.data for m in relayed if isinstance(m, AppMessage)] == list(range(len(relayed)))
        assert all(isinstance(e, Error) and e.code is ErrorCode.RATE_LIMITED for e in errors)
        await asyncio.sleep(0.6)  # a token comes back
        await assert_relays(a, b)
        await a.close()
        await b.close()

    run(scenario())


def test_repeat_offender_is_closed_and_other_peer_keeps_its_room(
    make_server: Callable[[ServerConfig], ServerThread],
) -> None:
    srv = make_server(ServerConfig(max_strikes=3))

    async def scenario() -> None:
        a, b = await pair(srv.ws_url)
        for _ in range(3):
            await a.send_text("garbage")
        replies = [await receive(a) for _ in range(3)]
        assert [(r.code, r.fatal) for r in replies if isinstance(r, Error)] == [
            (ErrorCode.MALFORMED, False),
            (ErrorCode.MALFORMED, False),
            (ErrorCode.MALFORMED, True),
        ]
        with pytest.raises(SignalingClosed) as closed:
            await receive(a)
        assert closed.value.close_code == 1008
        assert await receive(b) == PeerLeft(peer_id=a.info.peer_id, reason="kicked")
        c = SignalingClient(srv.ws_url, b.room, b.token)
        await c.connect()
        assert isinstance(await receive(b), PeerJoined)
        await assert_relays(c, b)
        await b.close()
        await c.close()

    run(scenario())


def test_sending_alone_gets_no_peer(server: ServerThread) -> None:
    async def scenario() -> None:
        a = await joined(server.ws_url, await invite(server.ws_url))
        await a.send(Offer(sdp="v=0"))
        error = await receive(a)
        assert isinstance(error, Error) and error.code is ErrorCode.NO_PEER and not error.fatal
        await a.close()

    run(scenario())


# --- leaving ---------------------------------------------------------------------------------


def test_peer_vanishing_mid_call_frees_its_place(server: ServerThread) -> None:
    async def scenario() -> None:
        room = await invite(server.ws_url)
        a = await joined(server.ws_url, room)
        ws, second = await raw_join(server.ws_url, room.room, room.token)
        assert second["type"] == "joined"
        assert isinstance(await receive(a), PeerJoined)
        await a.send(Offer(sdp="v=0"))
        assert json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT_S))["type"] == "offer"
        ws.transport.abort()  # no close frame: the TCP connection just dies
        assert await receive(a) == PeerLeft(peer_id=second["peer_id"], reason="disconnected")
        assert health(server) == {"status": "ok", "rooms": 1, "peers": 1}
        c = SignalingClient(server.ws_url, room.room, room.token)
        assert not (await c.connect()).initiator
        assert isinstance(await receive(a), PeerJoined)  # a stays the offerer
        await assert_relays(a, c)
        await a.close()
        await c.close()

    run(scenario())


def test_clean_leave_tells_the_other_and_the_empty_room_waits(server: ServerThread) -> None:
    async def scenario() -> None:
        a, b = await pair(server.ws_url)
        await b.close()
        assert await receive(a) == PeerLeft(peer_id=b.info.peer_id, reason="closed")
        await a.close()
        await asyncio.sleep(0.1)
        assert health(server) == {"status": "ok", "rooms": 1, "peers": 0}  # until it expires (rooms.py)
        back = SignalingClient(server.ws_url, a.room, a.token)
        assert (await back.connect()).initiator  # the invite still opens it
        await back.close()

    run(scenario())


# --- HTTP ------------------------------------------------------------------------------------


def test_healthz_counts_rooms_and_peers(server: ServerThread) -> None:
    assert health(server) == {"status": "ok", "rooms": 0, "peers": 0}

    async def scenario() -> None:
        a, b = await pair(server.ws_url)
        c = await joined(server.ws_url, await invite(server.ws_url))
        assert health(server) == {"status": "ok", "rooms": 2, "peers": 3}
        for client in (a, b, c):
            await client.close()

    run(scenario())


def test_signaling_alone_serves_no_page(server: ServerThread) -> None:
    """The web app is the application's (`frontal serve`, tests/test_web_app.py); signaling ships none."""
    assert httpx.get(server.url + "/", timeout=TIMEOUT_S).status_code == 404
    assert httpx.get(server.url + "/healthz", timeout=TIMEOUT_S).status_code == 200


def test_rooms_live_on_the_app_object() -> None:
    first, second = create_app(), create_app()
    assert first.state.registry is not second.state.registry
