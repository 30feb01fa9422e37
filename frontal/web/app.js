// Frontal's one page, in the mode of whoever served it:
//   agent  (`frontal call --browser`, answers GET /config): Join runs the call through the local agent;
//   server (`frontal serve`): create a room (POST /rooms), share its invite link and show the exact
//          `frontal call` commands that join it, since the page cannot run the codec itself yet.
// Room and token come from an invite link, /r/ROOM#token=TOKEN (the fragment never reaches a server).
import { startCall } from "./call.js";
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

function serverMode() {
  const signaling = `${window.location.protocol === "https:" ? "wss:" : "ws:"}//${window.location.host}/ws`;
  const intro = "This page does not run the codec yet: join from a machine with Frontal installed, with one of these commands:";
  $("join").textContent = "Show how to join";
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
  });
  const { room, token } = fromUrl();
  $("room").value = room;
  $("token").value = token;
  if (room && token) show(room, token, joinStatus(room));
  else setStatus(room ? "Enter the room's token (it is in the invite link)." : "Not in a room.");
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
