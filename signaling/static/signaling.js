// The signaling protocol in the browser (see docs/signaling.md). No UI code here: the call page
// (and later the WebRTC UI) listens to its events.
//
//   const channel = new SignalingChannel(signalingUrl());
//   channel.addEventListener("joined", (e) => console.log(e.detail));   // {peer_id, token, initiator, ...}
//   channel.addEventListener("offer", (e) => ...);                      // any server message type
//   await channel.join("room1", null);
//   channel.send({type: "offer", sdp});

export const ROOM_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
export const TOKEN_PATTERN = /^[A-Za-z0-9_.~-]{8,128}$/;

/** The WebSocket URL of the server that served this page. */
export function signalingUrl(location = window.location) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/ws`;
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

  /** Connect and join; resolves with the `joined` message, rejects with the `error` message. */
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
