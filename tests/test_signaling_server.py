"""The signaling server end to end: a real uvicorn on 127.0.0.1 (ephemeral port) per test."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from signaling.app import create_app
from signaling.client import SignalingClient, SignalingClosed, SignalingError
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
from signaling.server import ServerThread

T = TypeVar("T")
TIMEOUT_S = 5.0
TOKEN = "room-token-1234"


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loopback only: no proxy from the environment may carry the test traffic elsewhere."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "ws_proxy", "wss_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


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


async def pair(url: str, room: str) -> tuple[SignalingClient, SignalingClient]:
    """Two joined peers; the `peer-joined` notice to the first is consumed."""
    a = SignalingClient(url, room, TOKEN)
    await a.connect()
    b = SignalingClient(url, room, TOKEN)
    await b.connect()
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
        a = SignalingClient(server.ws_url, "call", None)
        info_a = await a.connect()
        assert info_a.initiator and info_a.peers == 1
        b = SignalingClient(server.ws_url, "call", info_a.token)
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
    assert health(server) == {"status": "ok", "rooms": 0, "peers": 0}


def test_first_joiner_sets_the_token(server: ServerThread) -> None:
    async def scenario() -> None:
        a = SignalingClient(server.ws_url, "chosen", "my-chosen-token")
        assert (await a.connect()).token == "my-chosen-token"
        b = SignalingClient(server.ws_url, "chosen", "my-chosen-token")
        assert (await b.connect()).peers == 2
        await a.close()
        await b.close()

    run(scenario())


def test_server_issues_a_token_when_none_is_given(server: ServerThread) -> None:
    async def scenario() -> None:
        a = SignalingClient(server.ws_url, "issued", None)
        b = SignalingClient(server.ws_url, "issued-too", None)
        token_a, token_b = (await a.connect()).token, (await b.connect()).token
        assert len(token_a) >= 32 and token_a != token_b
        assert (await refusal(server.ws_url, "issued", None)).code == "bad-token"
        await a.close()
        await b.close()

    run(scenario())


# --- refusals ---------------------------------------------------------------------------------


def test_wrong_token_is_refused_and_room_unaffected(server: ServerThread) -> None:
    async def scenario() -> None:
        a = SignalingClient(server.ws_url, "guarded", TOKEN)
        await a.connect()
        ws, reply = await raw_join(server.ws_url, "guarded", "not-the-token")
        assert reply["type"] == "error" and reply["code"] == "bad-token" and reply["fatal"]
        await asyncio.wait_for(ws.wait_closed(), TIMEOUT_S)
        assert ws.close_code == 1008
        await nothing_more(a)  # a was not told anything
        b = SignalingClient(server.ws_url, "guarded", TOKEN)
        assert (await b.connect()).peers == 2
        assert isinstance(await receive(a), PeerJoined)
        await assert_relays(a, b)
        await a.close()
        await b.close()

    run(scenario())


def test_third_joiner_is_refused_and_room_unaffected(server: ServerThread) -> None:
    async def scenario() -> None:
        a, b = await pair(server.ws_url, "two")
        error = await refusal(server.ws_url, "two", TOKEN)
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
        a = SignalingClient(srv.ws_url, "only", None)
        await a.connect()
        assert (await refusal(srv.ws_url, "another", None)).code == "server-full"
        await a.close()

    run(scenario())


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
        a, b = await pair(server.ws_url, "malformed")
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
        a, b = await pair(server.ws_url, "big")
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
        a, b = await pair(server.ws_url, "huge")
        await a.send_text("x" * (server.config.ws_max_frame_bytes + 1))
        with pytest.raises(SignalingClosed) as closed:
            while True:
                await receive(a)
        assert closed.value.close_code == 1009
        left = await receive(b)
        assert isinstance(left, PeerLeft) and left.peer_id == a.info.peer_id
        c = SignalingClient(server.ws_url, "huge", TOKEN)
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
        a, b = await pair(srv.ws_url, "flood")
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
        a, b = await pair(srv.ws_url, "strikes")
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
        c = SignalingClient(srv.ws_url, "strikes", TOKEN)
        await c.connect()
        assert isinstance(await receive(b), PeerJoined)
        await assert_relays(c, b)
        await b.close()
        await c.close()

    run(scenario())


def test_sending_alone_gets_no_peer(server: ServerThread) -> None:
    async def scenario() -> None:
        a = SignalingClient(server.ws_url, "alone", None)
        await a.connect()
        await a.send(Offer(sdp="v=0"))
        error = await receive(a)
        assert isinstance(error, Error) and error.code is ErrorCode.NO_PEER and not error.fatal
        await a.close()

    run(scenario())


# --- leaving ---------------------------------------------------------------------------------


def test_peer_vanishing_mid_call_frees_its_place(server: ServerThread) -> None:
    async def scenario() -> None:
        a = SignalingClient(server.ws_url, "vanish", TOKEN)
        await a.connect()
        ws, joined = await raw_join(server.ws_url, "vanish", TOKEN)
        assert joined["type"] == "joined"
        assert isinstance(await receive(a), PeerJoined)
        await a.send(Offer(sdp="v=0"))
        assert json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT_S))["type"] == "offer"
        ws.transport.abort()  # no close frame: the TCP connection just dies
        assert await receive(a) == PeerLeft(peer_id=joined["peer_id"], reason="disconnected")
        assert health(server) == {"status": "ok", "rooms": 1, "peers": 1}
        c = SignalingClient(server.ws_url, "vanish", TOKEN)
        assert not (await c.connect()).initiator
        assert isinstance(await receive(a), PeerJoined)  # a stays the offerer
        await assert_relays(a, c)
        await a.close()
        await c.close()

    run(scenario())


def test_clean_leave_tells_the_other_and_empty_room_is_removed(server: ServerThread) -> None:
    async def scenario() -> None:
        a, b = await pair(server.ws_url, "leave")
        await b.close()
        assert await receive(a) == PeerLeft(peer_id=b.info.peer_id, reason="closed")
        await a.close()
        await asyncio.sleep(0.1)
        assert health(server)["rooms"] == 0
        fresh = SignalingClient(server.ws_url, "leave", "a-brand-new-token")
        assert (await fresh.connect()).token == "a-brand-new-token"  # the old token is gone
        await fresh.close()

    run(scenario())


# --- HTTP ------------------------------------------------------------------------------------


def test_healthz_counts_rooms_and_peers(server: ServerThread) -> None:
    assert health(server) == {"status": "ok", "rooms": 0, "peers": 0}

    async def scenario() -> None:
        a, b = await pair(server.ws_url, "h1")
        c = SignalingClient(server.ws_url, "h2", None)
        await c.connect()
        assert health(server) == {"status": "ok", "rooms": 2, "peers": 3}
        for client in (a, b, c):
            await client.close()

    run(scenario())


def test_page_and_js_module_are_served(server: ServerThread) -> None:
    page = httpx.get(server.url + "/", timeout=TIMEOUT_S)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/static/main.js">' in page.text
    for name in ("main.js", "signaling.js"):
        script = httpx.get(f"{server.url}/static/{name}", timeout=TIMEOUT_S)
        assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert "export class SignalingChannel" in httpx.get(server.url + "/static/signaling.js").text


def test_rooms_live_on_the_app_object() -> None:
    first, second = create_app(), create_app()
    assert first.state.registry is not second.state.registry
