// Who is speaking: the level of each audio track of the media session (own and
// received, through the mesh or the media server), from one analyser per track, read often; subscribers of the store
// topic "levels" hear when someone starts or stops speaking.
import { changed } from "../store.js";

// Often, with a window of about 43 ms (2048 samples at 48 kHz): a short sound (a
// click, the fake microphone's 20 ms beep) always overlaps a window, however the
// sampling lines up with it; at 200 ms a periodic beep could fall between windows
// every time.
const LEVEL_EVERY_MS = 40;
const SPEAKING_LEVEL = 0.03; // RMS of the samples, 0..1
const SPEAKING_HOLD_MS = 600;

/** Watch the levels of `session`'s tracks; stopLevels(what this returns) stops it. */
export function watchLevels(session) {
  const context = window.AudioContext ? new AudioContext() : null;
  const meters = new Map(); // track -> {analyser, samples}
  const levelOf = (track) => {
    if (!context || !track || track.readyState !== "live") return 0;
    let meter = meters.get(track);
    if (!meter) {
      const analyser = context.createAnalyser();
      analyser.fftSize = 2048;
      context.createMediaStreamSource(new MediaStream([track])).connect(analyser);
      meter = { analyser, samples: new Float32Array(analyser.fftSize) };
      meters.set(track, meter);
    }
    meter.analyser.getFloatTimeDomainData(meter.samples);
    return Math.sqrt(meter.samples.reduce((sum, x) => sum + x * x, 0) / meter.samples.length);
  };
  // loud now, or loud a moment ago: the ring does not flicker between syllables
  const speaking = (who, loud) => {
    if (loud) who.loudAt = Date.now();
    return loud || Date.now() - (who.loudAt || 0) < SPEAKING_HOLD_MS;
  };
  const timer = setInterval(() => {
    if (context?.state === "suspended") context.resume().catch(() => {});
    const remotes = [...session.remotes().values()];
    const before = [session.speaking, ...remotes.map((remote) => remote.speaking)].join();
    session.speaking = speaking(session, !session.muted && levelOf(session.localTrack("audio")) > SPEAKING_LEVEL);
    for (const remote of remotes) {
      remote.speaking = speaking(remote, !remote.remote.muted && levelOf(remote.stream.getAudioTracks()[0]) > SPEAKING_LEVEL);
    }
    for (const track of meters.keys()) if (track.readyState !== "live") meters.delete(track);
    // the tiles redraw only when someone starts or stops speaking
    if ([session.speaking, ...remotes.map((remote) => remote.speaking)].join() !== before) changed("levels");
  }, LEVEL_EVERY_MS);
  return { timer, context };
}

export function stopLevels(levels) {
  clearInterval(levels?.timer);
  levels?.context?.close().catch(() => {});
}
