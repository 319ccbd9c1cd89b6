"""A local Janus (Debian's `janus`, 1.1) for scripts/run and the tests: a configs folder
written per run (VideoRoom over WebSockets only, signed tokens, the site's admin_key)
and the process started on it.

    python -m callsite.devjanus start FOLDER PORT   # runs Janus in the foreground
    python -m callsite.devjanus wait URL [SECONDS]  # exits 0 once a Janus answers at URL
    python -m callsite.devjanus port PREFERRED      # prints PREFERRED if free, else a free port

`start` reads CALL_SFU_TOKEN_SECRET and CALL_SFU_ADMIN_KEY from the environment. The configs
the site ships for servers are in deploy/janus/ (docs/deploy.md, "Media servers (Janus)").
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from websockets.sync.client import connect

# Debian installs the modules under the multiarch lib folder.
MODULE_ROOTS = ("/usr/lib/x86_64-linux-gnu/janus", "/usr/lib/aarch64-linux-gnu/janus", "/usr/lib/janus")
NEEDED = {"plugins": {"libjanus_videoroom.so"}, "transports": {"libjanus_websockets.so"}}


def janus_binary() -> str | None:
    return shutil.which("janus") or (os.path.exists("/usr/bin/janus") and "/usr/bin/janus") or None


def module_root() -> Path:
    for root in MODULE_ROOTS:
        if os.path.isfile(os.path.join(root, "plugins", "libjanus_videoroom.so")):
            return Path(root)
    found = glob.glob("/usr/lib/*/janus/plugins/libjanus_videoroom.so")
    if found:
        return Path(found[0]).parent.parent
    raise FileNotFoundError("the Janus VideoRoom plugin is not installed (apt-get install janus)")


def _modules(folder: Path) -> list[str]:
    # Janus loads every file ending in exactly ".so" (the versioned files are link targets)
    return sorted(p.name for p in folder.glob("*.so")) if folder.is_dir() else []


def _quote(value: object) -> str:
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass
class JanusSettings:
    ws_port: int
    token_secret: str
    admin_key: str
    admin_secret: str = ""  # the Admin API's (off unless set with admin_ws_port)
    admin_ws_port: int | None = None
    ws_ip: str = "127.0.0.1"
    rtp_ports: tuple[int, int] = (20000, 20999)
    # Janus never gathers candidates on loopback interfaces: a browser on the same host
    # reaches it on another interface's address. Set on servers behind 1:1 NAT.
    nat_1_1_mapping: str = ""
    ice_ignore_list: str = "vmnet,docker,veth,br-"
    session_timeout: int = 60
    debug_level: int = 4


def write_configs(folder: Path, settings: JanusSettings, log_file: Path | None = None) -> Path:
    """janus.jcfg, the WebSockets transport and the VideoRoom configs in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    root = module_root()
    disabled = {
        kind: [m for m in _modules(root / kind) if m not in NEEDED.get(kind, set())]
        for kind in ("plugins", "transports", "loggers", "events")
    }
    general = [
        f"configs_folder = {_quote(folder)}",
        *(f"{kind}_folder = {_quote(root / kind)}" for kind in ("plugins", "transports", "events", "loggers")),
        'server_name = "callsite-sfu"',
        f"debug_level = {settings.debug_level}",
        "debug_timestamps = true",
        "debug_colors = false",
        f"session_timeout = {settings.session_timeout}",
        # every request carries a token signed with this secret (the site signs them)
        "token_auth = true",
        f"token_auth_secret = {_quote(settings.token_secret)}",
    ]
    if settings.admin_secret:
        general.append(f"admin_secret = {_quote(settings.admin_secret)}")
    if log_file:
        general.append(f"log_to_file = {_quote(log_file)}")
    nat = [
        "full_trickle = true",
        "ice_lite = false",
        f"ice_ignore_list = {_quote(settings.ice_ignore_list)}",
    ]
    if settings.nat_1_1_mapping:
        nat.append(f"nat_1_1_mapping = {_quote(settings.nat_1_1_mapping)}")
    low, high = settings.rtp_ports

    def section(name: str, lines: list[str]) -> str:
        return "\n".join([f"{name}: {{", *(f"\t{line}" for line in lines), "}"])

    (folder / "janus.jcfg").write_text(
        "\n".join(
            [
                section("general", general),
                section("media", [f"rtp_port_range = {_quote(f'{low}-{high}')}"]),
                section("nat", nat),
                *(section(kind, [f"disable = {_quote(','.join(disabled[kind]))}"]) for kind in disabled),
                "",
            ]
        )
    )
    admin = ["admin_ws = false", "admin_wss = false"]
    if settings.admin_ws_port and settings.admin_secret:
        admin = [
            "admin_ws = true",
            f"admin_ws_port = {settings.admin_ws_port}",
            f"admin_ws_ip = {_quote(settings.ws_ip)}",
            "admin_wss = false",
        ]
    (folder / "janus.transport.websockets.jcfg").write_text(
        section(
            "general",
            [
                'json = "compact"',
                "ws = true",
                f"ws_port = {settings.ws_port}",
                f"ws_ip = {_quote(settings.ws_ip)}",
                "wss = false",
                'ws_logging = "err"',
            ],
        )
        + "\n"
        + section("admin", admin)
        + "\n"
    )
    # no static rooms: the site makes one room per call with the admin_key
    (folder / "janus.plugin.videoroom.jcfg").write_text(
        section("general", [f"admin_key = {_quote(settings.admin_key)}", "string_ids = false", "events = false"]) + "\n"
    )
    return folder


def answers(url: str, timeout: float = 0.5) -> bool:
    """Whether a Janus answers `info` at url."""
    try:
        with connect(url, subprotocols=["janus-protocol"], open_timeout=timeout, proxy=None, close_timeout=1) as ws:
            ws.send(json.dumps({"janus": "info", "transaction": "probe"}))
            return json.loads(ws.recv(timeout=timeout)).get("janus") == "server_info"
    except Exception:  # refused, reset, timed out: not (yet) answering
        return False


class JanusProcess:
    """One Janus on a configs folder written for it under `workdir`."""

    def __init__(self, settings: JanusSettings, workdir: Path) -> None:
        self.settings = settings
        self.workdir = workdir
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"ws://{self.settings.ws_ip}:{self.settings.ws_port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "janus.log"

    def start(self, timeout: float = 20.0) -> JanusProcess:
        binary = janus_binary()
        if binary is None:
            raise FileNotFoundError("janus is not installed (apt-get install janus)")
        configs = write_configs(self.workdir / "configs", self.settings, self.log_path)
        with open(self.workdir / "janus.stderr", "wb") as stderr:
            self.process = subprocess.Popen(
                [binary, "--configs-folder", str(configs), "--disable-stdout", "--log-file", str(self.log_path)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                cwd=self.workdir,
                start_new_session=True,  # its own process group: a Ctrl-C meant for the caller is not its
            )
        deadline = time.monotonic() + timeout
        while not answers(self.url):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"janus did not start on {self.url}: {self.log_tail()}")
            time.sleep(0.05)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """SIGINT (Janus's clean shutdown), SIGKILL if it hangs."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        """Gone at once, as a crashed or unreachable server."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def log_tail(self, lines: int = 20) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def free_port(preferred: int) -> int:
    """`preferred` if nothing listens there on 127.0.0.1, else a port the system picks."""
    for port in (preferred, 0):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise OSError("no free port")


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "port":
        print(free_port(int(argv[1])))
        return 0
    if len(argv) in (2, 3) and argv[0] == "wait":
        deadline = time.monotonic() + (float(argv[2]) if len(argv) == 3 else 20)
        while not answers(argv[1]):
            if time.monotonic() > deadline:
                return 1
            time.sleep(0.1)
        return 0
    if len(argv) != 3 or argv[0] != "start":
        print(__doc__, file=sys.stderr)
        return 2
    folder, port = Path(argv[1]).resolve(), int(argv[2])
    folder.mkdir(parents=True, exist_ok=True)
    settings = JanusSettings(
        ws_port=port,
        token_secret=os.environ["CALL_SFU_TOKEN_SECRET"],
        admin_key=os.environ["CALL_SFU_ADMIN_KEY"],
        nat_1_1_mapping=os.environ.get("JANUS_NAT_1_1_MAPPING", ""),
    )
    janus = JanusProcess(settings, folder).start()
    print(f"== Janus answers at {janus.url} (log: {janus.log_path})", flush=True)

    def stop(*_: object) -> None:
        # only a signal here: the main thread's wait() returns once Janus has shut down
        assert janus.process is not None
        janus.process.send_signal(signal.SIGINT)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    assert janus.process is not None
    code = janus.process.wait()
    return 0 if code in (0, -signal.SIGINT) else code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
