// A ringtone made in the browser with Web Audio: no sound file, nothing from outside.
// Two mixed tones (440 + 480 Hz, the classic ring), 1.2 s on, 2 s off. An app's kit may
// ring with a sound file of its own instead (setRingtoneFile).

const ON_S = 1.2;
const PERIOD_MS = 3200;

const file = { url: "" };

/** Ring with the sound file at `url` (looped) instead of the made tone; "" goes back to the tone. */
export function setRingtoneFile(url) {
  file.url = url || "";
}

export class Ringtone {
  constructor() {
    this.ctx = null;
    this.gain = null;
    this.timer = null;
    this.playing = false;
    this._muted = false;
    this.audio = null; // the <audio> of a ringtone file
  }

  /** Create or resume the audio context; browsers allow it only after a user gesture. */
  unlock() {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return;
    if (!this.ctx) {
      this.ctx = new Ctx();
      this.gain = this.ctx.createGain();
      this.gain.gain.value = this._muted ? 0 : 1;
      this.gain.connect(this.ctx.destination);
    }
    if (this.ctx.state === "suspended") this.ctx.resume().catch(() => {});
  }

  get muted() {
    return this._muted;
  }

  set muted(value) {
    this._muted = Boolean(value);
    if (this.gain) this.gain.gain.value = this._muted ? 0 : 1;
    if (this.audio) this.audio.muted = this._muted;
  }

  start() {
    if (this.playing) return;
    this.playing = true;
    if (file.url) {
      this.audio = Object.assign(new Audio(file.url), { loop: true, muted: this._muted });
      this.audio.play().catch(() => {}); // refused before a user gesture: silent, as the tone
      return;
    }
    this.unlock();
    this._burst();
    this.timer = setInterval(() => this._burst(), PERIOD_MS);
  }

  stop() {
    this.playing = false;
    clearInterval(this.timer);
    this.timer = null;
    this.audio?.pause();
    this.audio = null;
  }

  _burst() {
    const ctx = this.ctx;
    if (!ctx || ctx.state !== "running") return;
    const t = ctx.currentTime;
    const env = ctx.createGain();
    env.gain.setValueAtTime(0, t);
    env.gain.linearRampToValueAtTime(0.12, t + 0.03);
    env.gain.setValueAtTime(0.12, t + ON_S - 0.05);
    env.gain.linearRampToValueAtTime(0, t + ON_S);
    env.connect(this.gain);
    for (const freq of [440, 480]) {
      const osc = ctx.createOscillator();
      osc.frequency.value = freq;
      osc.connect(env);
      osc.start(t);
      osc.stop(t + ON_S);
    }
  }
}
