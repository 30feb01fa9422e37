// The call page: join a room and show the signaling status. The WebRTC call UI plugs in here
// later by listening to the channel's `peer-joined`, `offer`, `answer` and `candidate` events.
import { SignalingChannel, signalingUrl } from "./signaling.js";

const $ = (id) => document.getElementById(id);
const form = $("join-form");

function setStatus(text, state) {
  $("status").textContent = text;
  $("status").dataset.state = state;
}

function log(text) {
  const line = `${new Date().toLocaleTimeString()}  ${text}\n`;
  $("log").append(line);
  $("log").scrollTop = $("log").scrollHeight;
}

// Room from ?room=, token from #token= (the fragment never reaches the server's logs).
function prefill() {
  $("room").value = new URLSearchParams(window.location.search).get("room") || "";
  $("token").value = new URLSearchParams(window.location.hash.slice(1)).get("token") || "";
}

function showInvite(room, token) {
  const url = new URL(window.location.href);
  url.search = new URLSearchParams({ room }).toString();
  url.hash = new URLSearchParams({ token }).toString();
  $("share-link").href = url.toString();
  $("share-link").textContent = url.toString();
  $("share").hidden = false;
}

function setJoined(joined) {
  $("join").disabled = joined;
  $("leave").disabled = !joined;
  $("room").disabled = joined;
  $("token").disabled = joined;
}

function watch(channel) {
  channel.addEventListener("peer-joined", (e) => {
    setStatus("Other peer is here: you start the call.", "ready");
    log(`peer ${e.detail.peer_id} joined`);
  });
  channel.addEventListener("peer-left", (e) => {
    setStatus("Other peer left. Waiting for someone to join…", "waiting");
    log(`peer ${e.detail.peer_id} left (${e.detail.reason})`);
  });
  channel.addEventListener("error", (e) => log(`error ${e.detail.code}: ${e.detail.message}`));
  channel.addEventListener("close", (e) => {
    setStatus(`Disconnected (${e.detail.code}).`, e.detail.code === 1000 ? "idle" : "error");
    setJoined(false);
  });
}

async function join(event) {
  event.preventDefault();
  const channel = new SignalingChannel(signalingUrl());
  watch(channel);
  setStatus("Joining…", "waiting");
  try {
    const info = await channel.join($("room").value, $("token").value || null);
    setJoined(true);
    $("leave").onclick = () => channel.close();
    showInvite(info.room, info.token);
    const waiting = info.peers < 2 ? "Waiting for the other peer…" : "Other peer is here.";
    setStatus(`In room ${info.room} as ${info.peer_id}. ${waiting}`, info.peers < 2 ? "waiting" : "ready");
    log(`joined ${info.room} (${info.peers}/2)`);
  } catch (error) {
    setStatus(`Could not join: ${error.message || error.code}`, "error");
  }
}

prefill();
form.addEventListener("submit", join);
