// The page's sounds: the bundled WAVs of static/sounds/ (made by scripts/make_sounds.py),
// decoded once and looped in one AudioContext. Everything the page plays goes through one
// analyser (the browser tests listen there) to the output device chosen in Settings, where
// the browser can choose one (AudioContext.setSinkId).
//
// A browser lets a page make sound only after a user gesture in it (its autoplay policy):
// unlockOnGesture() resumes the context at the first click or key press.

const SOUND_DIR = new URL("../sounds/", import.meta.url);

export const SOUNDS = Object.freeze({
  ringback: "ringback.wav", // ETSI / ITU-T E.180: 425 Hz, 1 s on, 4 s off (Europe, China)
  busy: "busy.wav", // 425 Hz, 0.5 s on, 0.5 s off
  classic: "ringtone-classic.wav",
  chime: "ringtone-chime.wav",
  pulse: "ringtone-pulse.wav",
});

/** The ringtones a user can choose (Settings), the first the default. */
export const RINGTONES = Object.freeze(["classic", "chime", "pulse"]);

const audio = { ctx: null, analyser: null, buffers: new Map(), sinkId: "", loops: new Set() };

function context() {
  if (audio.ctx) return audio.ctx;
  const Ctx = window.AudioContext || window.webkitAudioContext;
  if (!Ctx) return null;
  audio.ctx = new Ctx();
  audio.analyser = audio.ctx.createAnalyser();
  audio.analyser.fftSize = 4096;
  audio.analyser.connect(audio.ctx.destination);
  if (audio.sinkId) setOutput(audio.sinkId);
  return audio.ctx;
}

/** Create or resume the audio context (allowed only after a user gesture, or at once in tests). */
export function unlock() {
  const ctx = context();
  if (ctx && ctx.state === "suspended") ctx.resume().catch(() => {});
}

export function unlockOnGesture() {
  for (const type of ["pointerdown", "keydown"]) {
    window.addEventListener(type, unlock, { capture: true, passive: true });
  }
}

/** Whether this browser can send the page's sounds to an output device of the user's choice. */
export const canChooseOutput = () => typeof (window.AudioContext?.prototype.setSinkId) === "function";

/** Play on the output device `deviceId` ("" or unknown: the default). */
export async function setOutput(deviceId) {
  audio.sinkId = deviceId || "";
  if (!audio.ctx || !canChooseOutput()) return;
  try {
    await audio.ctx.setSinkId(audio.sinkId);
  } catch (err) {
    console.warn("sounds: output device not available, using the default", err);
    audio.sinkId = "";
    await audio.ctx.setSinkId("").catch(() => {});
  }
}

function buffer(name) {
  if (!audio.buffers.has(name)) {
    const loading = fetch(new URL(SOUNDS[name], SOUND_DIR))
      .then((response) => response.arrayBuffer())
      .then((bytes) => context().decodeAudioData(bytes));
    loading.catch(() => audio.buffers.delete(name)); // a failed load is tried again next time
    audio.buffers.set(name, loading);
  }
  return audio.buffers.get(name);
}

/** One sound at a time on one Loop: start(name) replaces what it played. */
export class Loop {
  constructor() {
    this.gain = null;
    this.source = null;
    this.name = "";
    this.turn = 0; // a start or stop after a start whose sound is still loading wins
    this._muted = false;
    audio.loops.add(this);
  }

  get muted() {
    return this._muted;
  }

  set muted(value) {
    this._muted = Boolean(value);
    if (this.gain) this.gain.gain.value = this._muted ? 0 : 1;
  }

  get playing() {
    return this.name;
  }

  /** Play `name` looped; cycles: how many times (Infinity: until stop()); done(): once it ends by itself. */
  async start(name, { cycles = Infinity, done } = {}) {
    if (this.name === name && this.source && cycles === Infinity) return;
    this.stop();
    const turn = ++this.turn;
    this.name = name;
    const ctx = context();
    if (!ctx) return;
    unlock();
    let decoded;
    try {
      decoded = await buffer(name);
    } catch (err) {
      console.warn("sounds: could not load", name, err);
      return;
    }
    if (turn !== this.turn) return;
    if (!this.gain) {
      this.gain = ctx.createGain();
      this.gain.connect(audio.analyser);
    }
    this.gain.gain.value = this._muted ? 0 : 1;
    const source = ctx.createBufferSource();
    source.buffer = decoded;
    source.loop = true;
    source.connect(this.gain);
    const at = ctx.currentTime;
    source.start(at);
    if (cycles !== Infinity) source.stop(at + cycles * decoded.duration);
    source.onended = () => {
      if (this.source !== source) return;
      this.source = null;
      this.name = "";
      done?.();
    };
    this.source = source;
  }

  stop() {
    this.turn++;
    this.name = "";
    const source = this.source;
    this.source = null;
    if (source) {
      source.onended = null;
      try {
        source.stop();
      } catch {
        // never started
      }
      source.disconnect();
    }
  }
}

/** For the browser tests and the console: the analyser every sound passes, and the output chosen. */
export const soundsProbe = {
  get analyser() {
    return audio.analyser;
  },
  get context() {
    return audio.ctx;
  },
  get sinkId() {
    return audio.sinkId;
  },
  /** The sounds playing now (or loading to play), by name. */
  get playing() {
    return [...audio.loops].map((loop) => loop.playing).filter(Boolean).sort();
  },
};
