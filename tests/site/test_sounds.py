"""The page's sounds (static/sounds/) are exactly what scripts/make_sounds.py makes:
nobody can swap in a file of unknown origin, and the script stays the source."""

import subprocess
import sys
import wave
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOUNDS = ROOT / "static" / "sounds"


def test_the_bundled_sounds_are_what_the_script_makes(tmp_path):
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_sounds.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    made = sorted(p.name for p in tmp_path.glob("*.wav"))
    assert made == sorted(p.name for p in SOUNDS.glob("*.wav"))
    assert made == ["busy.wav", "ringback.wav", "ringtone-chime.wav", "ringtone-classic.wav", "ringtone-pulse.wav"]
    for name in made:
        assert (tmp_path / name).read_bytes() == (SOUNDS / name).read_bytes(), name


def test_each_sound_is_one_short_loop_cycle():
    cycles = {"ringback.wav": 5.0, "busy.wav": 1.0, "ringtone-classic.wav": 3.0, "ringtone-chime.wav": 3.0}
    cycles["ringtone-pulse.wav"] = 2.0
    for name, seconds in cycles.items():
        with wave.open(str(SOUNDS / name)) as w:
            assert (w.getnchannels(), w.getsampwidth()) == (1, 1)
            assert w.getnframes() / w.getframerate() == seconds
        assert (SOUNDS / name).stat().st_size < 50_000
