// The in-call media view: a tile per member in the call (video, or the avatar when
// there is none), name, state, speaking ring; the shared screen as a tile of its own,
// large; the controls for microphone, camera and screen sharing; what the page says
// about a large call connected peer to peer.
import { ME, activeCall, nameOf, on } from "./store.js";
import { media } from "./media/index.js";
import { $, avatar, el, toast } from "./ui.js";
import { mediaWords as words, peopleWords } from "./words.js";

const MESH_STRUGGLES_FROM = 4; // members in a video call sent peer to peer
const tiles = new Map(); // userID -> {node, video, state}
const screenTile = { tile: null };
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
      el("figcaption", {}, el("span", { class: "name" }, userID === ME ? peopleWords.you(userID) : nameOf(userID)), state,
        el("span", { class: "mic-off", title: words.micOffTitle(), "aria-label": words.micOffLabel() }, "🔇")));
    tile = { node, video, state };
    tiles.set(userID, tile);
  }
  return tile;
}

function tileForScreen() {
  if (!screenTile.tile) {
    const video = el("video", { autoplay: true, playsinline: true });
    video.muted = true;
    for (const type of ["loadedmetadata", "resize", "emptied"]) video.addEventListener(type, renderTiles);
    const state = el("span", { class: "tile-state" });
    const name = el("span", { class: "name" });
    const node = el("figure", { class: "tile screen-tile", dataset: { tile: "screen" } }, video, el("figcaption", {}, name, state));
    screenTile.tile = { node, video, state, name };
  }
  return screenTile.tile;
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
    screenTile.tile = null;
    $("#media-mesh-note").hidden = true;
    $("#media-controls").hidden = true;
    $("#media-note").hidden = true;
    return;
  }
  const remotes = session.remotes();
  const order = [ME, ...remotes.keys()];
  for (const userID of [...tiles.keys()]) if (!order.includes(userID)) tiles.delete(userID);
  const me = tileFor(ME);
  show(me, {
    stream: session.local, conn: "connected", muted: session.muted || !session.localTrack("audio"),
    videoOn: Boolean(session.localTrack("video")) && !session.cameraOff, text: session.muted ? words.muted() : words.you(),
  });
  for (const [userID, remote] of remotes) {
    const text = remote.conn === "connected" && remote.remote.muted ? words.muted() : words.peerState(remote.conn);
    const tile = tileFor(userID);
    show(tile, {
      stream: remote.stream, conn: remote.conn, muted: remote.remote.muted,
      videoOn: hasPicture(tile, remote.stream) && !remote.remote.cameraOff, text,
    });
  }
  const nodes = order.map((userID) => tiles.get(userID).node);
  const presenter = presenterOf(session);
  if (presenter) {
    const tile = tileForScreen();
    const stream = presenter === ME ? session.screenStream : remotes.get(presenter)?.screen;
    show(tile, { stream, conn: "connected", muted: false, videoOn: hasPicture(tile, stream), text: "" });
    tile.node.dataset.presenter = presenter;
    tile.name.textContent = presenter === ME ? words.yourScreen() : words.screenOf(presenter);
    nodes.unshift(tile.node);
  }
  if (nodes.some((node, i) => box.children[i] !== node) || box.children.length !== nodes.length) box.replaceChildren(...nodes);
  box.dataset.count = String(order.length);
  box.dataset.screen = presenter ? "1" : "0";
  markFeatured(remotes);
  renderControls(session, presenter);
}

/** Who is shown presenting: one at a time, the first by userID if two started at once (the other stops). */
function presenterOf(session) {
  const [presenter] = session.presenters();
  if (session.screen && presenter !== ME && !session.yielding) {
    session.yielding = true; // once: stopping re-renders
    queueMicrotask(() => {
      session.yielding = false;
      session.stopScreen();
    });
    toast(words.screenTaken(presenter), "info");
  }
  return presenter ?? null;
}

function renderControls(session, presenter) {
  $("#media-controls").hidden = false;
  const note = $("#media-note");
  note.textContent = session.note;
  note.hidden = !session.note;
  const members = session.expected.size + 1;
  const mesh = $("#media-mesh-note");
  mesh.hidden = !(session.topology === "p2p" && session.video && members >= MESH_STRUGGLES_FROM);
  if (!mesh.hidden) mesh.textContent = words.meshStruggles(members);
  const share = $("#media-screen");
  share.hidden = !navigator.mediaDevices?.getDisplayMedia;
  share.disabled = Boolean(presenter) && presenter !== ME;
  share.textContent = share.disabled ? words.presenting(presenter) : words.screenButton(Boolean(session.screen));
  share.setAttribute("aria-pressed", String(Boolean(session.screen)));
  share.title = share.disabled ? words.oneAtATime(presenter) : "";
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

function markFeatured(remotes) {
  if (!remotes.has(featured.userID)) featured.userID = remotes.keys().next().value ?? null;
  for (const [userID, tile] of tiles) tile.node.dataset.featured = userID === featured.userID ? "1" : "0";
}

function renderLevels() {
  const session = media.session;
  if (!session) return;
  const remotes = session.remotes();
  tiles.get(ME)?.node.setAttribute("data-speaking", session.speaking ? "1" : "0");
  for (const [userID, remote] of remotes) tiles.get(userID)?.node.setAttribute("data-speaking", remote.speaking ? "1" : "0");
  const speaker = [...remotes].find(([, remote]) => remote.speaking)?.[0];
  if (speaker && speaker !== featured.userID) {
    featured.userID = speaker;
    markFeatured(remotes);
  }
}

async function toggleScreen() {
  const session = media.session;
  if (!session) return;
  if (session.screen) {
    session.stopScreen();
    return;
  }
  try {
    await session.startScreen();
  } catch (err) {
    // the user closing the browser's picker is no error to report
    if (err.name !== "NotAllowedError" && media.session) toast(words.couldNotShare(err.name || err), "bad");
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
  $("#media-screen").addEventListener("click", toggleScreen);
  $("#media-mic").addEventListener("change", (ev) => useDevice("audio", ev.target.value));
  $("#media-cam").addEventListener("change", (ev) => useDevice("video", ev.target.value));
}
