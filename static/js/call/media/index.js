// Media between the members of the call on the stage (WebRTC: a full mesh signaled over
// the call's WebSocket, or through the call's media server), behind one facade: session.js
// (the call's media, and which way it travels), peer.js (one mesh connection, perfect
// negotiation), serverlink.js + sfu.js + janus.js (the media server), devices.js
// (microphone and camera), levels.js (who is speaking), stats.js (what flows).
//
// Views read `media.session` (its remotes(), presenters()) and subscribe to the store topics
// "media" (members, states, devices, screens) and "levels" (someone started or stopped speaking).
import { CallUserState as S, CallMode, CallState } from "../../zimclient.js";
import { ME, activeCall, changed, myState, on, stageOf, store, zim } from "../store.js";
import { Session } from "./session.js";

const EARLY_SIGNALS_MS = 15000; // signals for a call about to show here (accept still in flight)
const LEFT = new Set([S.Rejected, S.Cancelled, S.Timeout, S.Quit]);

/** The media of this tab: null, or the session of the call on the stage. */
export const media = { session: null };

// ---- which call has media, and with whom ------------------------------------------------

/** Media runs for the call on the stage of this tab while this user is Accepted in it. */
function mediaCall() {
  const call = activeCall();
  if (!call || !store.here.has(call.callID) || stageOf(call) !== "incall" || myState(call) !== S.Accepted) return null;
  // general mode: the call Ends once everyone answered, the media goes on (server: CALL_MEDIA_MAX_SECONDS)
  if (call.mode === CallMode.Advanced && call.state !== CallState.Started) return null;
  return call;
}

const early = []; // [{at, signal}] for calls not (yet) on the stage

function sync() {
  const call = mediaCall();
  let session = media.session;
  if (session && session.callID !== call?.callID) {
    session.close();
    session = media.session = null;
    changed("media");
  }
  if (!call) return;
  if (!session) {
    session = media.session = new Session(call);
    const now = Date.now();
    for (const { at, signal } of early.splice(0)) {
      if (signal.callID === call.callID && now - at < EARLY_SIGNALS_MS) session.onSignal(signal);
    }
  }
  const others = [...call.members.values()].filter((m) => m.userID !== ME);
  const accepted = new Set(others.filter((m) => m.state === S.Accepted).map((m) => m.userID));
  session.expected = accepted;
  session.sizeIs(accepted.size + 1);
  // Only a member known to have left loses its connection: a signal can overtake the event that
  // says its sender accepted (the server only relays between Accepted members).
  const gone = new Set(others.filter((m) => LEFT.has(m.state)).map((m) => m.userID));
  for (const userID of [...session.peers.keys()]) {
    if (gone.has(userID)) session.closePeer(userID);
  }
  for (const userID of [...session.hungUp]) {
    if (!accepted.has(userID)) session.hungUp.delete(userID); // left: a later join is a new start
  }
  // peer to peer only once the server said so (a call with a media server never opens the mesh)
  for (const userID of session.topology === "p2p" ? accepted : []) {
    if (!session.peers.has(userID) && !session.hungUp.has(userID)) session.openPeer(userID);
  }
  changed("media");
}

function onSignal(signal) {
  const session = media.session;
  if (session && session.callID === signal.callID) {
    session.onSignal(signal);
    return;
  }
  early.push({ at: Date.now(), signal });
  while (early.length && Date.now() - early[0].at > EARLY_SIGNALS_MS) early.shift();
}

export function initMedia() {
  on("stage", sync);
  on("topology", sync);
  zim.on("callMediaChanged", ({ callID }) => {
    if (media.session?.callID === callID) media.session.ask();
  });
  on("hangup", () => media.session?.byeAll());
  zim.on("callSignalReceived", onSignal);
  zim.on("connectionStateChanged", ({ state }) => {
    if (state === "connected") media.session?.resume();
  });
  window.addEventListener("pagehide", () => media.session?.byeAll());
  navigator.mediaDevices?.addEventListener?.("devicechange", async () => {
    await media.session?.listDevices();
    changed("media");
  });
}
