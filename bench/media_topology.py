"""Group calls, peer to peer (a full mesh) and through the media server (a local Janus),
side by side: video calls of 3, 6 and 10 members, each member a real Chromium page on the
call page (fake camera 640x360 at 20 fps, fake microphone), placed and answered through
the page as a user does.

Per call, over a window once every page decodes every other member (or a minute has
passed): bytes sent per browser per second, decoded frames per second per remote video
(getStats through the page's window.callMedia.session.report()), and the CPU of all the
Chromium processes (from /proc), in cores. The checks: through the server each browser's
upload stays that of one stream at every size (within 10 %), and at six members every
remote video decodes at least 1.3x the frames per second the mesh does at six.

    .venv/bin/python bench/media_topology.py
    BENCH_SCALE=small .venv/bin/python bench/media_topology.py    # 3 and 6 members, 10 s windows
    BENCH_MEDIA_SIZES=3,6 BENCH_MEDIA_WINDOW=30 .venv/bin/python bench/media_topology.py
    BENCH_MEDIA_TOPOLOGIES=sfu BENCH_MEDIA_SIZES=10 ...   # one side only (no checks then)

Needs Debian's chromium and janus (apt-get install chromium janus) and Playwright.
"""

from __future__ import annotations

import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.lib import SMALL, free_port, load_average, site, write_results  # noqa: E402
from callsite.devjanus import JanusProcess, JanusSettings  # noqa: E402

SIZES = [int(n) for n in os.environ.get("BENCH_MEDIA_SIZES", "3,6" if SMALL else "3,6,10").split(",")]
TOPOLOGIES = os.environ.get("BENCH_MEDIA_TOPOLOGIES", "mesh,sfu").split(",")
WINDOW_S = float(os.environ.get("BENCH_MEDIA_WINDOW", 10 if SMALL else 20))
SETTLE_S = 90  # for every page to decode every other member, before measuring anyway
WARMUP_S = 10  # after that: bandwidth estimation ramps up
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--autoplay-policy=no-user-gesture-required",
    "--use-fake-device-for-media-stream=fps=20",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
    # every page is a visible call: none is throttled as a background tab
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
]
PASSWORD = "bench-pw"
REPORT = "async () => window.callMedia.session ? await window.callMedia.session.report() : null"


# ---- Chromium's CPU ---------------------------------------------------------------------------


def descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            found += children
            todo += children
    return found


def chromium_cpu_seconds() -> float:
    """user + system CPU of every Chromium process this benchmark started (its descendants)."""
    total = 0.0
    for pid in descendants(os.getpid()):
        try:
            if (
                "chromium" not in Path(f"/proc/{pid}/comm").read_text()
                and "chrome" not in Path(f"/proc/{pid}/comm").read_text()
            ):
                continue
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


# ---- one call ---------------------------------------------------------------------------------


def sign_in(browser, base: str, username: str):
    context = browser.new_context(viewport={"width": 640, "height": 480}, base_url=base)
    context.set_default_timeout(60000)
    page = context.new_page()
    page.goto("/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/")
    page.wait_for_selector("#conn-state[data-state=connected]")
    # what the client heard, kept in the page: a member who drops out says why
    page.evaluate(
        """() => { const c = window.zimClient, emit = c._emit.bind(c); window.heard = [];
        c._emit = (ev, data, ...rest) => { window.heard.push([Math.round(performance.now()), ev,
          JSON.stringify(data).slice(0, 300)]); return emit(ev, data, ...rest); }; }"""
    )
    return page


def place_call(pages: dict) -> None:
    names = list(pages)
    caller, invitees = pages[names[0]], names[1:]
    for name in invitees:
        caller.locator(f'li[data-user="{name}"][data-online="1"]').wait_for()
        caller.click(f'label[for="pick-{name}"]')
    caller.click('label[for="call-video"]')
    caller.select_option("#call-mode", "1")
    # rings as long as the site allows: the last of ten pages answers while the others' media starts
    caller.fill("#call-timeout", caller.get_attribute("#call-timeout", "max"))
    caller.click("#call-start")
    for name in invitees:
        pages[name].locator("#incoming").wait_for(state="visible", timeout=180000)
        pages[name].click("#incoming-accept")


def everyone_decodes(pages: dict) -> bool:
    for name, page in pages.items():
        remotes = (page.evaluate(REPORT) or {}).get("remotes", {})
        if not all(remotes.get(other, {}).get("framesDecoded", 0) > 0 for other in pages if other != name):
            return False
    return True


def measure_call(browser, base: str, names: list[str]) -> dict:
    pages = {name: sign_in(browser, base, name) for name in names}
    place_call(pages)
    began = time.monotonic()
    while not everyone_decodes(pages) and time.monotonic() - began < SETTLE_S:
        time.sleep(1)
    settled_s = round(time.monotonic() - began, 1)
    time.sleep(WARMUP_S)
    before = {name: page.evaluate(REPORT) for name, page in pages.items()}
    cpu_before, wall_before = chromium_cpu_seconds(), time.monotonic()
    time.sleep(WINDOW_S)
    after = {name: page.evaluate(REPORT) for name, page in pages.items()}
    cpu_s, wall_s = chromium_cpu_seconds() - cpu_before, time.monotonic() - wall_before
    topologies = {page.evaluate("window.callMedia.session?.topology ?? 'none'") for page in pages.values()}
    for name, page in pages.items():
        if after[name] is None or before[name] is None:
            said = page.evaluate(
                "({toasts: [...document.querySelectorAll('#toasts .toast')].map((t) => t.textContent),"
                " stage: [...document.querySelectorAll('section[id]')].filter((n) => !n.hidden).map((n) => n.id),"
                " heard: window.heard.slice(-8)})"
            )
            raise RuntimeError(
                f"{name} had no media session {'before' if before[name] is None else 'after'} the window: {said}"
            )
    pages[names[0]].click("#incall-end")
    # the end reaches the server before the pages go (else the next, larger call finds them in this one)
    pages[names[0]].locator("#incall").wait_for(state="hidden")
    for page in pages.values():
        page.context.close()

    upload, streams, fps, widths, cpu_limited = [], [], [], [], 0
    for name in names:
        b, a = before[name], after[name]
        cameras = [v for v in a["outbound"].values() if v["kind"] == "video" and v["frameWidth"]]
        widths += [v["frameWidth"] for v in cameras]
        cpu_limited += any(v["limitation"] == "cpu" for v in cameras)
        seconds = (a["at"] - b["at"]) / 1000
        sent = sum(v["bytesSent"] - b["outbound"].get(k, {}).get("bytesSent", 0) for k, v in a["outbound"].items())
        upload.append(sent / seconds)
        streams.append(
            sum(
                1
                for k, v in a["outbound"].items()
                if v["kind"] == "video" and v["bytesSent"] > b["outbound"].get(k, {}).get("bytesSent", 0)
            )
        )
        for other in names:
            if other == name:
                continue
            frames = a["remotes"].get(other, {}).get("framesDecoded", 0) - b["remotes"].get(other, {}).get(
                "framesDecoded", 0
            )
            fps.append(max(frames, 0) / seconds)
    return {
        "topology": "/".join(sorted(topologies)),
        "settled_s": settled_s,
        "upload_kB_s_mean": round(statistics.mean(upload) / 1000, 1),
        "upload_kB_s_min": round(min(upload) / 1000, 1),
        "upload_kB_s_max": round(max(upload) / 1000, 1),
        "video_streams_sent_mean": round(statistics.mean(streams), 2),
        "fps_per_remote_video_mean": round(statistics.mean(fps), 1),
        "fps_per_remote_video_min": round(min(fps), 1),
        "chromium_cpu_cores": round(cpu_s / wall_s, 2),
        # the encoders scale down when the CPU cannot keep up: how many pages said so, and the width sent
        "pages_encoder_cpu_limited": cpu_limited,
        "sent_width_min": min(widths, default=0),
        "loadavg": load_average(),
    }


def run_topology(label: str, names: list[str], **env: str) -> dict:
    from playwright.sync_api import sync_playwright

    results = {}
    with site(f"media_{label}", **env) as s:
        s.django(
            "from django.contrib.auth import get_user_model\n"
            "User = get_user_model()\n"
            f"for name in {names!r}:\n"
            f"    User.objects.create_user(username=name, password={PASSWORD!r})\n"
        )
        s.worker()
        _, base = s.daphne()
        with sync_playwright() as p:
            for size in SIZES:
                browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
                try:
                    results[str(size)] = measure_call(browser, base, names[:size])
                finally:
                    browser.close()
                print(label, size, results[str(size)], flush=True)
    return results


def main() -> None:
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's sync API keeps a loop on this thread
    names = [f"member{i}" for i in range(max(SIZES))]
    token_secret, admin_key = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    figures = {"mesh": run_topology("mesh", names)} if "mesh" in TOPOLOGIES else {}
    if "sfu" not in TOPOLOGIES:
        write_results("media_topology-mesh", figures)
        return
    with tempfile.TemporaryDirectory(prefix="bench-janus-") as folder:
        janus = JanusProcess(
            JanusSettings(ws_port=free_port(), token_secret=token_secret, admin_key=admin_key), Path(folder)
        ).start()
        try:
            figures["sfu"] = run_topology(
                "sfu",
                names,
                CALL_SFU_URLS=janus.url,
                CALL_SFU_TOKEN_SECRET=token_secret,
                CALL_SFU_ADMIN_KEY=admin_key,
            )
        finally:
            janus.stop()

    if "mesh" not in TOPOLOGIES:
        write_results("media_topology-sfu", figures)
        return
    uploads = [figures["sfu"][str(n)]["upload_kB_s_mean"] for n in SIZES]
    figures["checks"] = {"sfu_upload_max_over_min": round(max(uploads) / min(uploads), 3)}
    if "6" in figures["sfu"]:
        mesh6 = figures["mesh"]["6"]["fps_per_remote_video_mean"]
        figures["checks"]["sfu6_min_fps_over_mesh6_mean_fps"] = round(
            figures["sfu"]["6"]["fps_per_remote_video_min"] / mesh6, 2
        )
    rows = [
        "| members | topology | upload per browser (kB/s, mean [min-max]) | video streams sent | "
        "fps per remote video (mean / min) | Chromium CPU (cores) | encoders CPU-limited, smallest width sent |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for n in SIZES:
        for label in ("mesh", "sfu"):
            f = figures[label][str(n)]
            rows.append(
                f"| {n} | {label} | {f['upload_kB_s_mean']} [{f['upload_kB_s_min']}-{f['upload_kB_s_max']}] | "
                f"{f['video_streams_sent_mean']} | {f['fps_per_remote_video_mean']} / {f['fps_per_remote_video_min']} | "
                f"{f['chromium_cpu_cores']} | {f['pages_encoder_cpu_limited']} of {n}, {f['sent_width_min']} |"
            )
    checks = figures["checks"]
    notes = "\n".join(
        [
            *rows,
            "",
            f"SFU upload, largest over smallest across sizes: {checks['sfu_upload_max_over_min']} (target <= 1.10)",
            *(
                [
                    "At six members, the SFU's slowest remote video over the mesh's mean: "
                    f"{checks['sfu6_min_fps_over_mesh6_mean_fps']}x (target >= 1.3)"
                ]
                if "sfu6_min_fps_over_mesh6_mean_fps" in checks
                else []
            ),
        ]
    )
    write_results("media_topology", figures, notes)


if __name__ == "__main__":
    main()
