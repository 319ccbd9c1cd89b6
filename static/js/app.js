// The call page's entry: hand the store what the server rendered on #app, wire each
// part (static/js/call/*), then connect. Each part draws its own piece of the page;
// they share state through call/store.js, whose actions are the only writers.
import { initStore, zim } from "./call/store.js";
import { initSettings } from "./call/settings.js";
import { initPeople } from "./call/people.js";
import { initStage, render } from "./call/stage.js";
import { initOutgoing } from "./call/outgoing.js";
import { initInvite } from "./call/invite.js";
import { initIncoming } from "./call/incoming.js";
import { initMissed } from "./call/missed.js";
import { initEvents } from "./call/events.js";
import { initGroups } from "./call/groups.js";
import { initConnection } from "./call/connection.js";
import { initMedia, media } from "./call/media/index.js";
import { initTiles } from "./call/tiles.js";
import { initElsewhere } from "./call/elsewhere.js";
import { initDnd } from "./call/dnd.js";
import { initTones } from "./call/tones.js";
import { initQuality } from "./call/qualityview.js";
import { soundsProbe } from "./sounds.js";

const root = document.querySelector("#app");
initStore({
  user: root.dataset.user,
  maxParticipants: Number(root.dataset.maxParticipants),
  minTimeout: Number(root.dataset.minTimeout),
  maxTimeout: Number(root.dataset.maxTimeout),
  defaultTimeout: Number(root.dataset.defaultTimeout),
});
initSettings();
initPeople();
initStage();
initOutgoing();
initInvite();
initIncoming();
initMissed();
initEvents();
initGroups();
initConnection();
initMedia();
initTiles();
initElsewhere();
initDnd();
initTones();
initQuality();
render();
window.zimClient = zim; // for the console and the browser tests
window.callMedia = media;
window.callSounds = soundsProbe;
zim.connect();
