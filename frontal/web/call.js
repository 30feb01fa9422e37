// The browser half of `frontal call --browser`. The camera goes to the local Frontal agent (this
// machine) over a loopback WebRTC connection; the agent encodes it and holds the call. Back come
// the rendered remote caller (a video track) and live statistics (JSON on the "ui" data channel).
const $ = (id) => document.getElementById(id);

function showStats(s) {
  const f = (v, d = 2) => (v === null || v === undefined ? "–" : Number(v).toFixed(d));
  $("stats").textContent =
    `send  payload ${f(s.payload_kbps)} kbps   wire ${f(s.wire_kbps)} kbps   views ${f(s.view_kbps)} kbps   ${f(s.fps_sent, 1)} fps\n` +
    `recv  ${f(s.fps, 1)} fps shown (${f(s.fps_rendered, 1)} rendered)   lost ${s.packets_lost}   ` +
    `latency p50 ${f(s.latency_ms_p50, 0)} ms  p95 ${f(s.latency_ms_p95, 0)} ms`;
}

function iceGatheringDone(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const check = () => { if (pc.iceGatheringState === "complete") resolve(); };
    pc.addEventListener("icegatheringstatechange", check);
    setTimeout(resolve, 3000); // candidates gathered so far are enough on loopback
  });
}

/**
 * Start the call in `room`: `setStatus(text, state)` shows progress, `onToken(token)` fires
 * with the room's token once the agent is in the call. Rejects if the camera or the agent fails.
 */
export async function startCall(room, token, { setStatus, onToken }) {
  setStatus("Starting the camera…", "waiting");
  const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
  $("local").srcObject = stream;
  const pc = new RTCPeerConnection({ iceServers: [] });
  const ui = pc.createDataChannel("ui");
  ui.onmessage = (e) => {
    const m = JSON.parse(e.data);
    if (m.type === "stats") {
      showStats(m.stats);
      setStatus(`In a call in room ${room}.`, "ready");
      if (m.token) onToken(m.token);
    } else if (m.type === "ended") {
      setStatus(`Call ended: ${m.reason}`, m.reason === "duration" || m.reason === "bye" ? "idle" : "error");
    }
  };
  pc.addTransceiver(stream.getVideoTracks()[0], { direction: "sendrecv" });
  pc.ontrack = (e) => { $("remote").srcObject = new MediaStream([e.track]); };
  await pc.setLocalDescription(await pc.createOffer());
  await iceGatheringDone(pc);
  const reply = await fetch("/offer", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ sdp: pc.localDescription.sdp, type: "offer", room, token: token || null }),
  });
  const answer = await reply.json();
  if (!reply.ok) throw new Error(answer.error || JSON.stringify(answer.detail) || reply.statusText);
  await pc.setRemoteDescription(answer);
  setStatus(`Joining room ${room}…`, "waiting");
  window.frontalPc = pc;
}
