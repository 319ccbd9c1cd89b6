// The call page's entry: mount the call kit (static/js/kit/kit.js: the ringing, outgoing and
// in-call views, the same UI apps embed) in the page's <call-kit>, for the signed-in user with
// the server's limits rendered on #app, wire the page's own parts around it (people, call form,
// groups, missed calls, settings, the connection pill, a call on another device), then connect.
// They share state through call/store.js, whose actions are the only writers.
import { CallKit } from "./kit/kit.js";
import { zim } from "./call/store.js";
import { render } from "./call/stage.js";
import { initSettings } from "./call/settings.js";
import { initPeople } from "./call/people.js";
import { initCallForm } from "./call/callform.js";
import { initMissed } from "./call/missed.js";
import { initGroups } from "./call/groups.js";
import { initConnection } from "./call/connection.js";
import { media } from "./call/media/index.js";
import { initElsewhere } from "./call/elsewhere.js";
import { initDnd } from "./call/dnd.js";
import { initTones } from "./call/tones.js";
import { initQuality } from "./call/qualityview.js";
import { soundsProbe } from "./sounds.js";

const root = document.querySelector("#app");
CallKit.mount({
  server: location.origin, // the session cookie signs the socket in (no token)
  userID: root.dataset.user,
  config: {
    element: document.querySelector("call-kit"),
    layout: "inline",
    sitePage: true,
    timeout: Number(root.dataset.defaultTimeout),
    limits: {
      maxParticipants: Number(root.dataset.maxParticipants),
      minTimeout: Number(root.dataset.minTimeout),
      maxTimeout: Number(root.dataset.maxTimeout),
    },
    buttons: { busy: true, dismiss: true, inviteMore: true, endForEveryone: true },
    canInvitingInCalling: true,
  },
});
initSettings();
initPeople();
initCallForm();
initMissed();
initGroups();
initConnection();
initElsewhere();
initDnd();
initTones();
initQuality();
render();
window.zimClient = zim; // for the console and the browser tests
window.callMedia = media;
window.callSounds = soundsProbe;
zim.connect();
