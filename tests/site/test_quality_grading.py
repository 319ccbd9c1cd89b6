"""The connection-quality thresholds and grading of the call page
(static/js/call/media/quality.js), tested with Node's own test runner
(tests/js/quality.test.mjs): the module has no DOM, so no browser is needed. The
browser test with a lossy network is tests/browser/test_quality.py."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NODE = shutil.which("node")


@pytest.mark.skipif(NODE is None, reason="Node.js is not installed (scripts/test installs Debian's nodejs)")
def test_quality_grading_in_node():
    done = subprocess.run(
        [NODE, "--test", "tests/js/quality.test.mjs"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "# fail 0" in done.stdout and "# pass 8" in done.stdout, done.stdout
