"""Make the call page's sounds (ringback, busy tone, three ringtones) as small WAV files
in static/sounds/ (committed; tests/site/test_sounds.py checks they are what this makes).

Standard library only (wave, math, struct, random): every sample is computed here, so the
sounds carry no third-party licence. Each file is exactly one loop cycle: it starts and ends
at silence with short fades, so an <audio loop> element repeats it without a click.

Telephone tones (ringback, busy) are made at 8 kHz: they are telephone-band by definition
(425 Hz, 440/480 Hz) and 8 kHz keeps a 5-6 s cycle under 50 KB. Ringtones are made at 16 kHz
for their brighter partials. Samples are 8-bit unsigned PCM (WAV format 1, which every browser
decodes) with triangular dither so quantisation is noise, not harmonics.

    python scripts/make_sounds.py [out_dir]      # default: static/sounds
"""

from __future__ import annotations

import math
import random
import sys
import wave
from pathlib import Path

TELEPHONE_RATE = 8000
RINGTONE_RATE = 16000
FADE_S = 0.008  # long enough to avoid a click, short enough to keep the tone's edges crisp


def silence(seconds: float, rate: int) -> list[float]:
    return [0.0] * round(seconds * rate)


def tone(freqs: tuple[float, ...], seconds: float, rate: int, level: float = 0.5) -> list[float]:
    """Equal-level sines summed, with a raised-cosine fade in and out."""
    n = round(seconds * rate)
    fade = max(1, round(FADE_S * rate))
    out = []
    for i in range(n):
        t = i / rate
        v = sum(math.sin(2 * math.pi * f * t) for f in freqs) / len(freqs)
        edge = min(i, n - 1 - i)
        if edge < fade:
            v *= 0.5 - 0.5 * math.cos(math.pi * edge / fade)
        out.append(level * v)
    return out


def bell(fundamental: float, seconds: float, rate: int, level: float = 0.5, decay: float = 3.0) -> list[float]:
    """A struck-bell note: a few inharmonic partials, each decaying exponentially."""
    partials = ((1.0, 1.0, 1.0), (2.0, 0.5, 1.6), (2.76, 0.3, 2.2), (5.4, 0.12, 3.5))  # ratio, gain, decay factor
    n = round(seconds * rate)
    attack = max(1, round(0.004 * rate))
    fade = max(1, round(FADE_S * rate))
    total_gain = sum(g for _, g, _ in partials)
    out = []
    for i in range(n):
        t = i / rate
        v = sum(g * math.exp(-decay * k * t) * math.sin(2 * math.pi * fundamental * r * t) for r, g, k in partials)
        v /= total_gain
        if i < attack:
            v *= i / attack
        if n - 1 - i < fade:
            v *= (n - 1 - i) / fade
        out.append(level * v)
    return out


def write_wav(path: Path, samples: list[float], rate: int, seed: int = 0) -> int:
    """8-bit unsigned mono PCM with TPDF dither; returns the file size in bytes."""
    rng = random.Random(seed)  # fixed seed: the same script makes byte-identical files
    data = bytearray()
    for s in samples:
        # Dither only where there is sound: the gaps stay digitally silent, not hissing.
        dithered = s * 127 + (rng.random() - rng.random()) if s else 0.0
        data.append(max(0, min(255, round(dithered) + 128)))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(1)
        w.setframerate(rate)
        w.writeframes(bytes(data))
    return path.stat().st_size


def ringback_etsi() -> list[float]:
    """ETSI/ITU-T E.180 ring tone as most of Europe and China use it: 425 Hz, 1 s on, 4 s off."""
    r = TELEPHONE_RATE
    return tone((425,), 1.0, r) + silence(4.0, r)


def busy() -> list[float]:
    """ETSI busy tone: 425 Hz, 0.5 s on, 0.5 s off."""
    r = TELEPHONE_RATE
    return tone((425,), 0.5, r) + silence(0.5, r)


def ringtone_classic() -> list[float]:
    """A double ring (400 + 450 Hz, 0.4 on, 0.2 off, 0.4 on, 2.0 off): the desk phone everybody knows."""
    r = RINGTONE_RATE
    burst = tone((400, 450), 0.4, r, level=0.6)
    return burst + silence(0.2, r) + burst + silence(2.0, r)


def ringtone_chime() -> list[float]:
    """Three bell notes falling E5, C5, G4 (a major triad), each left to ring out: a 3 s cycle."""
    r = RINGTONE_RATE
    out = silence(3.0, r)
    for start_s, freq in ((0.0, 659.25), (0.35, 523.25), (0.7, 392.0)):
        note = bell(freq, 2.3, r, level=0.4, decay=2.2)  # rings out before the cycle ends
        at = round(start_s * r)
        for i, v in enumerate(note):
            out[at + i] += v
    return out


def ringtone_pulse() -> list[float]:
    """Four short 880 Hz beeps with a 1320 Hz fifth on top, then a rest: 2 s."""
    r = RINGTONE_RATE
    beep = tone((880, 1320), 0.09, r, level=0.55)
    gap = silence(0.07, r)
    return (beep + gap) * 4 + silence(2.0 - 4 * (0.09 + 0.07), r)


SOUNDS = {
    "ringback.wav": (ringback_etsi, TELEPHONE_RATE),
    "busy.wav": (busy, TELEPHONE_RATE),
    "ringtone-classic.wav": (ringtone_classic, RINGTONE_RATE),
    "ringtone-chime.wav": (ringtone_chime, RINGTONE_RATE),
    "ringtone-pulse.wav": (ringtone_pulse, RINGTONE_RATE),
}


def goertzel_power(samples: list[float], rate: int, freq: float) -> float:
    """Normalised power of one frequency (used for the self-check below)."""
    k = 2 * math.cos(2 * math.pi * freq / rate)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + k * s1 - s2, s1
    return (s1 * s1 + s2 * s2 - k * s1 * s2) / (len(samples) ** 2)


def main(out_dir: str = str(Path(__file__).resolve().parent.parent / "static" / "sounds")) -> None:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, (make, rate) in SOUNDS.items():
        samples = make()
        size = write_wav(out / name, samples, rate)
        assert size < 60_000, f"{name} is {size} bytes"
        # A loop must start and end silent, or it clicks at the seam.
        assert abs(samples[0]) < 1e-3 and abs(samples[-1]) < 1e-3, name
        assert max(map(abs, samples)) <= 1.0, f"{name} clips"
        print(f"{name:24s} {len(samples) / rate:4.2f} s  {rate} Hz  8-bit  {size:6d} bytes")
    # The telephone tones are what their standard says: most energy at 425 Hz, not at a neighbour.
    on = ringback_etsi()[:TELEPHONE_RATE]
    assert goertzel_power(on, TELEPHONE_RATE, 425) > 50 * goertzel_power(on, TELEPHONE_RATE, 480)


if __name__ == "__main__":
    main(*sys.argv[1:])
