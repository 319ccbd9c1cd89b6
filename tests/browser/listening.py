"""Listening to what a page plays: every sound of the call page passes one Web Audio
AnalyserNode (static/js/sounds.js, `window.callSounds`); these helpers read its
spectrum in the page, every 20 ms, and say which tone sounds, for how long, and when
nothing does."""

from playwright.sync_api import Page

# Runs in the page: sample the analyser until `untilHz` is heard (loudest bin within
# `toleranceHz` and above `minDb`), or for `ms` when untilHz is null; answers the samples
# [ms since start, loudest Hz, its dB] (dB -Infinity: silence, sent as null).
LISTEN = """async ({ms, untilHz, toleranceHz, minDb}) => {
  const out = [];
  const start = performance.now();
  while (performance.now() - start < ms) {
    const probe = window.callSounds;
    const analyser = probe && probe.analyser;
    if (analyser) {
      analyser.smoothingTimeConstant = 0;
      const bins = new Float32Array(analyser.frequencyBinCount);
      analyser.getFloatFrequencyData(bins);
      let best = 1;
      for (let i = 2; i < bins.length; i++) if (bins[i] > bins[best]) best = i;
      const hz = best * probe.context.sampleRate / analyser.fftSize;
      const db = Number.isFinite(bins[best]) ? bins[best] : null;
      out.push([Math.round(performance.now() - start), hz, db]);
      if (untilHz !== null && db !== null && db > minDb && untilHz.some((f) => Math.abs(hz - f) <= toleranceHz)) {
        return {heard: true, samples: out};
      }
    } else {
      out.push([Math.round(performance.now() - start), 0, null]);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return {heard: false, samples: out};
}"""

LOUD_DB = -50  # a tone the page plays is far above this; silence reads -Infinity
TOLERANCE_HZ = 12  # the analyser's bins are about 11.7 Hz wide at 48 kHz (fftSize 4096)


def hear(page: Page, *hz: float, within_ms: int = 10000) -> list:
    """Wait until one of the tones `hz` is the loudest sound the page plays; fail if it is not
    within `within_ms`. Answers the samples taken."""
    result = page.evaluate(
        LISTEN, {"ms": within_ms, "untilHz": list(hz), "toleranceHz": TOLERANCE_HZ, "minDb": LOUD_DB}
    )
    loud = [s for s in result["samples"] if s[2] is not None and s[2] > LOUD_DB]
    assert result["heard"], f"{hz} Hz not heard in {within_ms} ms; loud samples: {loud[:10]}"
    return result["samples"]


def record(page: Page, ms: int) -> list:
    """Every sample for `ms`: [ms, loudest Hz, dB or None]."""
    return page.evaluate(LISTEN, {"ms": ms, "untilHz": None, "toleranceHz": 0, "minDb": 0})["samples"]


def loud(samples: list) -> list:
    return [s for s in samples if s[2] is not None and s[2] > LOUD_DB]


# The analyser reads the last fftSize samples (4096 at 48 kHz: 85 ms), so a sound that
# has just stopped still shows, fading, for that long.
ANALYSER_WINDOW_MS = 120


def assert_silent(page: Page, ms: int) -> None:
    """Nothing above LOUD_DB for `ms` (the absence of a sound can only be listened for),
    once the analyser's window has passed over whatever played before."""
    page.wait_for_timeout(ANALYSER_WINDOW_MS)
    heard = loud(record(page, ms))
    assert not heard, f"sound where there should be none: {heard[:10]}"


def bursts(samples: list, hz: float) -> list[tuple[int, int]]:
    """The stretches [start ms, end ms] where `hz` is the loudest, loud sound."""
    out: list[tuple[int, int]] = []
    on_since = None
    last = 0
    for at, freq, db in samples:
        on = db is not None and db > LOUD_DB and abs(freq - hz) <= TOLERANCE_HZ
        if on and on_since is None:
            on_since = at
        if not on and on_since is not None:
            out.append((on_since, last))
            on_since = None
        last = at
    if on_since is not None:
        out.append((on_since, last))
    return out


def playing(page: Page) -> list[str]:
    """The names of the sounds the page plays now (or is loading to play)."""
    return page.evaluate("window.callSounds.playing")


def expect_playing(page: Page, names: list[str], timeout_ms: int = 10000) -> None:
    page.wait_for_function(
        "(names) => JSON.stringify(window.callSounds.playing) === JSON.stringify(names)",
        arg=sorted(names),
        timeout=timeout_ms,
    )
