// The ringtone of an incoming call: the bundled sound the user chose in Settings
// (sounds.js), looped until stop(). `choose()` names it at each start.
import { Loop, RINGTONES, unlock } from "./sounds.js";

export class Ringtone {
  constructor(choose = () => RINGTONES[0]) {
    this.choose = choose;
    this.loop = new Loop();
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
  }

  get playing() {
    return Boolean(this.loop.playing);
  }

  start() {
    const name = this.choose();
    this.loop.start(RINGTONES.includes(name) ? name : RINGTONES[0]);
  }

  stop() {
    this.loop.stop();
  }
}
