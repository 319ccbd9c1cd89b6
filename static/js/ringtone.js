// The ringtone of an incoming call: the bundled sound the user chose in Settings
// (sounds.js), looped until stop(). `choose()` names it at each start. An app's kit
// may ring with a sound file of its own instead (setRingtoneFile).
import { Loop, RINGTONES, unlock } from "./sounds.js";

const file = { url: "" };

/** Ring with the sound file at `url` (looped) instead of the bundled one; "" goes back to it. */
export function setRingtoneFile(url) {
  file.url = url || "";
}

export class Ringtone {
  constructor(choose = () => RINGTONES[0]) {
    this.choose = choose;
    this.loop = new Loop();
    this.audio = null; // the <audio> of an app's ringtone file
  }

  /** Create or resume the audio context; browsers allow it only after a user gesture. */
  unlock() {
    unlock();
  }

  get muted() {
    return this.loop.muted;
  }

  set muted(value) {
    this.loop.muted = value;
    if (this.audio) this.audio.muted = Boolean(value);
  }

  get playing() {
    return Boolean(this.loop.playing) || Boolean(this.audio);
  }

  start() {
    if (file.url) {
      if (this.audio) return;
      this.audio = Object.assign(new Audio(file.url), { loop: true, muted: this.loop.muted });
      this.audio.play().catch(() => {}); // refused before a user gesture: silent, as the bundled one
      return;
    }
    const name = this.choose();
    this.loop.start(RINGTONES.includes(name) ? name : RINGTONES[0]);
  }

  stop() {
    this.loop.stop();
    this.audio?.pause();
    this.audio = null;
  }
}
