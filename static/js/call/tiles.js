// The in-call media view: a tile per member in the call (video, or the avatar when
// there is none), name, state, speaking ring; the controls for microphone and camera.
import { ME, activeCall, on } from "./store.js";
import { media } from "./media/index.js";
import { $, avatar, el } from "./ui.js";
import { mediaWords as words, peopleWords } from "./words.js";

const tiles = new Map(); // userID -> {node, video, state}
/** The tile shown larger: the other member who spoke last (the first other member until someone speaks). */
const featured = { userID: null };

function tileFor(userID) {
  let tile = tiles.get(userID);
  if (!tile) {
    const video = el("video", { autoplay: true, playsinline: true });
    video.muted = userID === ME; // never play one's own microphone back
    // whether there is a picture is known once frames arrive (a remote track can stay "muted" meanwhile)
    for (const type of ["loadedmetadata", "resize", "emptied"]) video.addEventListener(type, renderTiles);
    const state = el("span", { class: "tile-state" });
    const node = el("figure", { class: "tile", dataset: { tile: userID } },
      video, el("span", { class: "tile-avatar" }, avatar(userID)),
      el("figcaption", {}, el("span", { class: "name" }, userID === ME ? peopleWords.you(userID) : userID), state,
        el("span", { class: "mic-off", title: words.micOffTitle(), "aria-label": words.micOffLabel() }, "🔇")));
    tile = { node, video, state };
    tiles.set(userID, tile);
  }
  return tile;
}

function show(tile, { stream, conn, muted, videoOn, text }) {
  if (tile.video.srcObject !== stream) tile.video.srcObject = stream;
  Object.assign(tile.node.dataset, { conn, muted: muted ? "1" : "0", video: videoOn ? "1" : "0" });
  tile.state.textContent = text;
}

/** A picture to show: a live video track whose frames reach the element. */
const hasPicture = (tile, stream) => Boolean(stream?.getVideoTracks().some((t) => t.readyState === "live"))
  && tile.video.videoWidth > 0;

function renderTiles() {
  const session = media.session;
  const box = $("#media-tiles");
  const call = activeCall();
  if (!session || !call || session.callID !== call.callID) {
    box.replaceChildren();
    tiles.clear();
    $("#media-controls").hidden = true;
    $("#media-note").hidden = true;
    return;
  }
  const order = [ME, ...session.peers.keys()];
  for (const userID of [...tiles.keys()]) if (!order.includes(userID)) tiles.delete(userID);
  const me = tileFor(ME);
  show(me, {
    stream: session.local, conn: "connected", muted: session.muted || !session.localTrack("audio"),
    videoOn: Boolean(session.localTrack("video")) && !session.cameraOff, text: session.muted ? words.muted() : words.you(),
  });
  for (const [userID, peer] of session.peers) {
    const text = peer.conn === "connected" && peer.remote.muted ? words.muted() : words.peerState(peer.conn);
    const tile = tileFor(userID);
    show(tile, {
      stream: peer.stream, conn: peer.conn, muted: peer.remote.muted,
      videoOn: hasPicture(tile, peer.stream) && !peer.remote.cameraOff, text,
    });
  }
  const nodes = order.map((userID) => tiles.get(userID).node);
  if (nodes.some((node, i) => box.children[i] !== node) || box.children.length !== nodes.length) box.replaceChildren(...nodes);
  box.dataset.count = String(nodes.length);
  markFeatured(session);
  renderControls(session);
}

function renderControls(session) {
  $("#media-controls").hidden = false;
  const note = $("#media-note");
  note.textContent = session.note;
  note.hidden = !session.note;
  const mute = $("#media-mute");
  mute.disabled = !session.localTrack("audio");
  mute.textContent = words.muteButton(session.muted);
  mute.setAttribute("aria-pressed", String(session.muted));
  const camera = $("#media-camera");
  camera.hidden = !session.video;
  camera.disabled = !session.localTrack("video");
  camera.textContent = words.cameraButton(session.cameraOff);
  camera.setAttribute("aria-pressed", String(session.cameraOff));
  fillDevices($("#media-mic"), session.devices.audioinput, session.localTrack("audio"));
  fillDevices($("#media-cam"), session.devices.videoinput, session.localTrack("video"));
  $("#media-cam-field").hidden = !session.video;
}

function fillDevices(select, devices, track) {
  const current = track?.getSettings().deviceId || "";
  const options = devices.map((d, i) => el("option", { value: d.deviceId, selected: d.deviceId === current },
    d.label || words.device(i + 1)));
  if (select.dataset.ids !== devices.map((d) => d.deviceId).join() || select.value !== current) {
    select.replaceChildren(...options);
    select.dataset.ids = devices.map((d) => d.deviceId).join();
  }
  select.disabled = devices.length < 2 && Boolean(track);
}

function markFeatured(session) {
  if (!session.peers.has(featured.userID)) featured.userID = session.peers.keys().next().value ?? null;
  for (const [userID, tile] of tiles) tile.node.dataset.featured = userID === featured.userID ? "1" : "0";
}

function renderLevels() {
  const session = media.session;
  if (!session) return;
  tiles.get(ME)?.node.setAttribute("data-speaking", session.speaking ? "1" : "0");
  for (const [userID, peer] of session.peers) tiles.get(userID)?.node.setAttribute("data-speaking", peer.speaking ? "1" : "0");
  const speaker = [...session.peers].find(([, peer]) => peer.speaking)?.[0];
  if (speaker && speaker !== featured.userID) {
    featured.userID = speaker;
    markFeatured(session);
  }
}

async function useDevice(kind, deviceId) {
  try {
    await media.session?.useDevice(kind, deviceId);
  } catch (err) {
    if (media.session) {
      media.session.note = words.couldNotSwitch(kind, err.name || err);
      renderTiles();
    }
  }
}

export function initTiles() {
  on("media", renderTiles);
  on("stage", renderTiles);
  on("levels", renderLevels);
  $("#media-mute").addEventListener("click", () => media.session?.setMuted(!media.session.muted));
  $("#media-camera").addEventListener("click", () => media.session?.setCameraOff(!media.session.cameraOff));
  $("#media-mic").addEventListener("change", (ev) => useDevice("audio", ev.target.value));
  $("#media-cam").addEventListener("change", (ev) => useDevice("video", ev.target.value));
}
