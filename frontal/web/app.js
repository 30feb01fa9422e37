// Frontal's one page, in the mode of whoever served it:
//   server (`frontal serve`): create a room (POST /rooms), share its invite link, and join it from
//          this page (peer/call.js: the page tracks and sends your face, and draws the other
//          caller's) or with the `frontal call` command shown;
//   agent  (`frontal call --browser`, answers GET /config; a debugging aid): Join runs the call
//          through the local agent.
// Room and token come from an invite link, /r/ROOM#token=TOKEN (the fragment never reaches a server);
// ?autojoin=1 joins at once (tests).
import { startCall } from "./call.js";
import { PageCall, loadCallData } from "./peer/call.js";
import { ROOM_PATTERN, TOKEN_PATTERN, createRoom } from "./signaling.js";

const $ = (id) => document.getElementById(id);

function setStatus(text, state = "idle") {
  $("status").textContent = text;
  $("status").dataset.state = state;
}

/** Room and token from /r/ROOM#token=TOKEN (or ?room=ROOM). */
function fromUrl(location = window.location) {
  const match = location.pathname.match(/^\/r\/([^/]+)\/?$/);
  const room = match ? decodeURIComponent(match[1]) : new URLSearchParams(location.search).get("room");
  const token = new URLSearchParams(location.hash.slice(1)).get("token");
  return { room: room || "", token: token || "" };
}

/** The agent's settings, or null when the page was served by `frontal serve`. */
async function agentConfig() {
  try {
    const reply = await fetch("/config", { headers: { accept: "application/json" } });
    const config = reply.ok ? await reply.json() : null;
    return config && config.mode === "agent" ? config : null;
  } catch {
    return null;
  }
}

function shellWord(text) {
  return /^[A-Za-z0-9_.\/:=@%+-]+$/.test(text) ? text : `'${text.replaceAll("'", "'\\''")}'`;
}

function joinCommand(room, token, signaling, source) {
  return ["frontal", "call", "--room", room, "--token", token, "--signaling", signaling, ...source].map(shellWord).join(" ");
}

/** The invite link (a page of the signaling server behind the `signaling` WebSocket URL) and
 * the commands that join the room. */
function showInvite(room, token, signaling, intro) {
  let link = "";
  try {
    link = `${new URL(signaling.replace(/^ws/, "http")).origin}/r/${encodeURIComponent(room)}#token=${encodeURIComponent(token)}`;
  } catch {
    // not a URL: the commands below still say which server the agent uses
  }
  $("invite-link").href = link || "#";
  $("invite-link").textContent = link || "(none: the signaling URL is not a ws:// or wss:// URL)";
  $("commands-intro").textContent = intro;
  $("commands").textContent = [
    "# a window on this machine, camera 0 (--video FILE plays a file instead):",
    joinCommand(room, token, signaling, ["--camera", "0"]), // --renderer mesh, the default: what the page draws
  ].join("\n");
  $("invite").hidden = false;
}

function checkRoom(room, token) {
  if (!ROOM_PATTERN.test(room)) throw new Error("a room name is 1 to 64 of A-Z a-z 0-9 _ -");
  if (token && !TOKEN_PATTERN.test(token)) throw new Error("a token is 8 to 128 of A-Z a-z 0-9 _ . ~ -");
}

// --- served by `frontal serve` ----------------------------------------------------------------

/** Whether this server serves what an in-page call needs (null) or why not (a message). Cheap:
 * the manifest only (the call itself loads the rest). */
async function pageCallProblem() {
  if (!window.isSecureContext) return "this page is not a secure context (open it over https:// or on localhost), so it has no camera";
  try {
    const reply = await fetch("/web/dist/data/manifest.json");
    const manifest = reply.ok ? await reply.json() : null;
    if (!manifest) return "the server's page files are not built: run `make web` where `frontal serve` runs";
    if (!manifest.face_mesh) return "the server has no FaceMesh: install Node.js and run `make web` where `frontal serve` runs";
    return null;
  } catch (error) {
    return `the server's page files cannot be read (${error.message || error})`;
  }
}

let currentCall = null;

/** The live statistics, two lines: what this page sends and what it receives and draws. */
function statsText(snap) {
  const f = (v, d = 1) => (v === null || v === undefined || Number.isNaN(v) ? "–" : Number(v).toFixed(d));
  const s = snap.sender || {}, r = snap.receiver || {}, w = snap.wire || {};
  const sent = snap.seconds > 0 && s.frames_encoded !== undefined ? s.frames_encoded / snap.seconds : null;
  const track = snap.frames_tracked ? snap.track_ms_total / snap.frames_tracked : null;
  return `send  payload ${f(w.payload_kbps_sent, 2)} kbps   wire ${f(w.wire_kbps_sent, 2)} kbps   ${f(sent)} fps coded   tracking ${f(track, 0)} ms/frame` +
    `${snap.video_muted ? "   (video off)" : ""}\n` +
    `recv  payload ${f(w.payload_kbps_received, 2)} kbps   wire ${f(w.wire_kbps_received, 2)} kbps   ${f(r.fps_rendered_recent)} fps drawn   ` +
    `latency p50 ${f(r.latency_ms_p50, 0)} / p95 ${f(r.latency_ms_p95, 0)} ms   render ${f(r.render_ms_mean)} / p95 ${f(r.render_ms_p95)} ms\n` +
    `      frames decoded ${r.packets_decoded ?? 0}, drawn ${r.frames_rendered ?? 0}, late ${r.frames_dropped_late ?? 0}, ` +
    `lost ${r.packets_lost ?? 0}, bad ${(r.packets_bad ?? 0) + (r.control_bad ?? 0)}, views ${r.views_received ?? 0}`;
}

async function joinInPage(room, token) {
  $("join").disabled = true;
  $("hangup").disabled = false;
  $("mute-video").disabled = false;
  $("mute-video").textContent = "Turn video off";
  $("mute-audio").textContent = "Mute microphone"; // speech: enabled once the microphone is sending
  $("mute-audio").setAttribute("aria-pressed", "false");
  $("speech-note").textContent = "";
  $("page-call").hidden = false;
  $("remote-figure").dataset.state = "waiting";
  const call = new PageCall({ video: $("preview"), canvas: $("remote-canvas"), room, token, onStatus: setStatus });
  currentCall = call;
  window.frontalCall = call; // for the tests and the console
  call.addEventListener("speech", (e) => { // speech (peer/audio.js): sending, or why the call is video-only
    $("mute-audio").disabled = Boolean(e.detail);
    $("speech-note").textContent = e.detail ? `Video only: ${e.detail}.` : "";
  });
  const show = () => {
    const snap = call.snapshot();
    $("page-live-stats").textContent = statsText(snap);
    $("page-stats").textContent = JSON.stringify(snap, null, 1);
  };
  const ticker = setInterval(show, 1000);
  call.addEventListener("first-frame", () => { $("remote-figure").dataset.state = "drawing"; });
  call.addEventListener("ended", () => {
    clearInterval(ticker);
    show();
    $("join").disabled = false;
    $("hangup").disabled = true;
    $("mute-video").disabled = true;
    $("mute-audio").disabled = true;
    $("remote-figure").dataset.state = "ended";
    currentCall = null;
  });
  try {
    await call.start();
  } catch (error) {
    setStatus(`Could not join: ${error.message || error}`, "error");
    call.end("failed", false);
  }
}

function serverMode() {
  const signaling = `${window.location.protocol === "https:" ? "wss:" : "ws:"}//${window.location.host}/ws`;
  let problem = "the page's files are still being checked";
  let intro = "Join from a machine with Frontal installed, with this command:";
  $("join").textContent = "Show how to join";
  $("hangup").addEventListener("click", () => { if (currentCall) currentCall.end("hangup"); });
  $("mute-audio").addEventListener("click", () => { // speech (peer/audio.js): muted sends no speech at all
    if (!currentCall) return;
    const muted = $("mute-audio").getAttribute("aria-pressed") !== "true";
    currentCall.setSpeechMuted(muted);
    $("mute-audio").textContent = muted ? "Unmute microphone" : "Mute microphone";
    $("mute-audio").setAttribute("aria-pressed", String(muted));
  });
  $("mute-video").addEventListener("click", () => {
    if (!currentCall) return;
    currentCall.setVideoMuted(!currentCall.muted);
    $("mute-video").textContent = currentCall.muted ? "Turn video on" : "Turn video off";
    $("mute-video").setAttribute("aria-pressed", String(currentCall.muted));
  });
  $("show-stats").addEventListener("change", () => { $("page-live-stats").hidden = !$("show-stats").checked; });
  const show = (room, token, status) => {
    try {
      checkRoom(room, token);
      if (!token) throw new Error("joining needs the room's token too (it is in the invite link)");
    } catch (error) {
      setStatus(error.message, "error");
      return;
    }
    window.history.replaceState(null, "", `/r/${encodeURIComponent(room)}#token=${encodeURIComponent(token)}`);
    showInvite(room, token, signaling, intro);
    setStatus(status, "ready");
  };
  const joinStatus = (room) => (problem ? `To join room ${room}, run the command below.` : `Room ${room}: press Join.`);
  $("create").addEventListener("click", async () => {
    $("create").disabled = true;
    setStatus("Creating a room…", "waiting");
    try {
      const { room, token } = await createRoom();
      $("room").value = room;
      $("token").value = token;
      show(room, token, `Room ${room} created.`);
    } catch (error) {
      setStatus(`Could not create a room: ${error.message}`, "error");
    } finally {
      $("create").disabled = false;
    }
  });
  $("join-form").addEventListener("submit", (event) => {
    event.preventDefault();
    show($("room").value, $("token").value, joinStatus($("room").value));
    if (!problem && $("token").value) joinInPage($("room").value, $("token").value);
  });
  const { room, token } = fromUrl();
  const autojoin = new URLSearchParams(window.location.search).get("autojoin") === "1"; // before show() rewrites the URL
  $("room").value = room;
  $("token").value = token;
  if (room && token) show(room, token, joinStatus(room));
  else setStatus(room ? "Enter the room's token (it is in the invite link)." : "Not in a room.");
  pageCallProblem().then((found) => {
    problem = found;
    $("page-call-note").textContent = problem ? `This page cannot hold the call itself here: ${problem}.` : "";
    if (problem) return;
    intro = "The other caller opens the link in a browser, or joins from a machine with Frontal installed with this command:";
    $("commands-intro").textContent = intro;
    $("join").textContent = "Join";
    if (room && token && autojoin) joinInPage(room, token);
    else if (room && token && !currentCall) setStatus(joinStatus(room), "ready");
  });
}

// --- served by `frontal call --browser` --------------------------------------------------------

function agentMode(config) {
  const fromLink = fromUrl();
  $("room").value = fromLink.room || config.room || "";
  $("token").value = fromLink.token || config.token || "";
  const intro = "The other caller joins from a machine with Frontal installed, with this command:";
  let shown = "";
  const invite = (token) => {
    if (token !== shown) showInvite($("room").value, (shown = token), config.signaling, intro);
  };
  if ($("token").value) invite($("token").value);
  const join = async (event) => {
    if (event) event.preventDefault();
    $("join").disabled = true;
    try {
      checkRoom($("room").value, $("token").value);
      await startCall($("room").value, $("token").value, { setStatus, onToken: invite });
    } catch (error) {
      setStatus(`Could not start the call: ${error.message || error}`, "error");
      $("join").disabled = false;
    }
  };
  $("join-form").addEventListener("submit", join);
  setStatus("Not in a call.");
  if (new URLSearchParams(window.location.search).get("autostart") === "1") join();
}

const config = await agentConfig();
document.body.dataset.mode = config ? "agent" : "server";
if (config) agentMode(config);
else serverMode();
