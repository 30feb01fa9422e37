// The signaling protocol in the browser (see docs/signaling.md). No UI code here. The page uses
// `createRoom`; the in-page codec will use `SignalingChannel` and listen to its events.
//
//   const { room, token } = await createRoom();                         // POST /rooms: an invite
//   const channel = new SignalingChannel(signalingUrl());
//   channel.addEventListener("joined", (e) => console.log(e.detail));   // {peer_id, token, initiator, ...}
//   channel.addEventListener("offer", (e) => ...);                      // any server message type
//   await channel.join(room, token);
//   channel.send({type: "offer", sdp});

export const ROOM_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
export const TOKEN_PATTERN = /^[A-Za-z0-9_.~-]{8,128}$/;

/** The WebSocket URL of the server that served this page. */
export function signalingUrl(location = window.location) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/ws`;
}

/**
 * A new room and its token from the signaling server at `origin` (POST /rooms, 201 {room, token}).
 * Rejects with an Error whose message says why, plainly where the server has no such endpoint.
 */
export async function createRoom(origin = window.location.origin) {
  let reply;
  try {
    reply = await fetch(`${origin}/rooms`, { method: "POST", headers: { accept: "application/json" } });
  } catch (error) {
    throw new Error(`the server did not answer (${error.message || error})`);
  }
  if (reply.status === 404 || reply.status === 405) {
    throw new Error("this server has no POST /rooms (a version without room creation): join a room from its invite link instead");
  }
  const body = await reply.json().catch(() => null);
  if (reply.status !== 201 || !body || !ROOM_PATTERN.test(body.room) || !TOKEN_PATTERN.test(body.token)) {
    const why = body && (body.message || body.error || body.detail);
    throw new Error(`POST /rooms answered ${reply.status}${why ? `: ${typeof why === "string" ? why : JSON.stringify(why)}` : ""}`);
  }
  return { room: body.room, token: body.token };
}

/**
 * One WebSocket to the signaling server. Every server message is dispatched as an event named
 * after its `type` (`joined`, `peer-joined`, `peer-left`, `offer`, `answer`, `candidate`, `bye`,
 * `message`, `error`) with the message as `detail`; `close` fires once with {code, reason}.
 */
export class SignalingChannel extends EventTarget {
  constructor(url) {
    super();
    this.url = url;
    this.socket = null;
    this.info = null;
  }

  /** Connect and join an existing room with its token; resolves with the `joined` message,
   * rejects with the `error` message (`bad-token` for a wrong token or a room that does not exist). */
  join(room, token) {
    if (!ROOM_PATTERN.test(room)) return Promise.reject(new Error("invalid room name"));
    if (token && !TOKEN_PATTERN.test(token)) return Promise.reject(new Error("invalid token"));
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(this.url);
      this.socket = socket;
      socket.addEventListener("open", () => {
        socket.send(JSON.stringify({ type: "join", room, token: token || null }));
      });
      socket.addEventListener("message", (event) => {
        const message = this.#parse(event.data);
        if (!message) return;
        if (!this.info && message.type === "joined") { this.info = message; resolve(message); }
        if (!this.info && message.type === "error") reject(message);
        this.dispatchEvent(new CustomEvent(message.type, { detail: message }));
      });
      socket.addEventListener("close", (event) => {
        if (!this.info) reject({ code: "closed", message: `connection closed (${event.code})` });
        this.dispatchEvent(new CustomEvent("close", { detail: { code: event.code, reason: event.reason } }));
      });
    });
  }

  /** Send an offer/answer/candidate/bye/message object to the other peer. */
  send(message) {
    if (!this.socket || this.socket.readyState !== WebSocket.OPEN) throw new Error("not connected");
    this.socket.send(JSON.stringify(message));
  }

  /** Leave the room: the other peer is told `peer-left`. */
  close() {
    if (this.socket) this.socket.close(1000, "leaving");
  }

  #parse(text) {
    try {
      const message = JSON.parse(text);
      return message && typeof message.type === "string" ? message : null;
    } catch {
      return null;
    }
  }
}
