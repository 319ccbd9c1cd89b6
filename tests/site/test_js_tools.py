"""The page's JavaScript (static/js, no build step): ESLint is clean, and no module
imports another in a cycle (scripts/js_import_cycles.mjs). Both need Node.js;
scripts/test installs Debian's nodejs and npm on a fresh machine, and ESLint
(package.json) is installed here with `npm ci` when it is missing."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(NODE is None, reason="Node.js is not installed (scripts/test installs Debian's nodejs)")


def run(*args, cwd=ROOT):
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def eslint():
    binary = ROOT / "node_modules" / ".bin" / "eslint"
    if not binary.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("npm is not installed (scripts/test installs Debian's npm)")
        done = run(npm, "ci", "--no-audit", "--no-fund")
        assert done.returncode == 0, done.stdout + done.stderr
    return binary


def test_eslint_is_clean(eslint):
    done = run(str(eslint), "--max-warnings", "0", ".")
    assert done.returncode == 0, done.stdout + done.stderr


def test_no_import_cycles():
    done = run(NODE, "scripts/js_import_cycles.mjs")
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_cycle_check_finds_a_cycle(tmp_path):
    (tmp_path / "a.js").write_text('import { b } from "./b.js";\nexport const a = 1;\n')
    (tmp_path / "b.js").write_text('import {\n  a,\n} from "./a.js";\nexport const b = a;\n')
    (tmp_path / "c.js").write_text('import { a } from "./a.js";\n')
    done = run(NODE, "scripts/js_import_cycles.mjs", str(tmp_path))
    assert done.returncode == 1
    assert "a.js -> b.js -> a.js" in done.stdout


def test_the_check_finds_a_name_not_exported(tmp_path):
    (tmp_path / "a.js").write_text("export const a = 1;\nexport function f() {}\nconst g = 2;\nexport { g as h };\n")
    (tmp_path / "b.js").write_text('import { a, f, h as k } from "./a.js";\nimport {\n  gone,\n} from "./a.js";\n')
    done = run(NODE, "scripts/js_import_cycles.mjs", str(tmp_path))
    assert done.returncode == 1
    assert done.stdout.strip() == "b.js: gone is not exported by a.js"
