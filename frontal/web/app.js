// Frontal's one page, in the mode of whoever served it:
//   agent  (`frontal call --browser`, answers GET /config): Join runs the call through the local agent;
//   server (`frontal serve`): create a room (POST /rooms), share its invite link, and join it from
//          this page (peer/call.js: the page tracks and sends; it does not draw the other caller
//          yet) or with the `frontal call` commands shown.
// Room and token come from an invite link, /r/ROOM#token=TOKEN (the fragment never reaches a server);
// ?autojoin=1 joins at once (tests).
import { startCall } from "./call.js";
import { PageCall, loadCallData } from "./peer/call.js";
import { ROOM_PATTERN, TOKEN_PATTERN, createRoom } from "./signaling.js";

const $ = (id) => document.getElementById(id);
const AGENT_PORT = 8090; // `frontal call --ui-port` default

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
    joinCommand(room, token, signaling, ["--camera", "0"]),
    `# or this browser, through a local agent (then open http://127.0.0.1:${AGENT_PORT}/r/${room}):`,
    joinCommand(room, token, signaling, ["--browser"]),
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

async function joinInPage(room, token) {
  $("join").disabled = true;
  $("hangup").disabled = false;
  $("page-call").hidden = false;
  const call = new PageCall({ video: $("preview"), room, token, onStatus: setStatus });
  currentCall = call;
  window.frontalCall = call; // for the tests and the console
  const show = () => { $("page-stats").textContent = JSON.stringify(call.snapshot(), null, 1); };
  const ticker = setInterval(show, 1000);
  call.addEventListener("ended", () => {
    clearInterval(ticker);
    show();
    $("join").disabled = false;
    $("hangup").disabled = true;
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
  let intro = "Join from a machine with Frontal installed, with one of these commands:";
  $("join").textContent = "Show how to join";
  $("hangup").addEventListener("click", () => { if (currentCall) currentCall.end("hangup"); });
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
  const joinStatus = (room) => `To join room ${room}, run one of the commands below.`;
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
    intro = "Or join from a machine with Frontal installed (the page sends a shape call: use --renderer mesh), with one of these commands:";
    $("commands-intro").textContent = intro;
    $("join").textContent = "Join";
    if (room && token && autojoin) joinInPage(room, token);
  });
}

// --- served by `frontal call --browser` --------------------------------------------------------

function agentMode(config) {
  const fromLink = fromUrl();
  $("room").value = fromLink.room || config.room || "";
  $("token").value = fromLink.token || config.token || "";
  const intro = "The other caller joins from a machine with Frontal installed, with one of these commands:";
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
