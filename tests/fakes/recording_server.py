"""A local HTTP server for the tests: records every request and answers a
programmable sequence of statuses (201, 410, 503 ...), per path or for all.

It stands in for a push service or a webhook receiver; the site's workers
reach it over real HTTP on 127.0.0.1.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes
    status: int  # what the server answered
    at: float = field(default_factory=time.time)


class RecordingServer:
    def __init__(self, default_status: int = 200) -> None:
        self.default_status = default_status
        self.requests: list[Recorded] = []
        self._scripts: dict[str | None, deque[int]] = {}
        self._changed = threading.Condition()
        self._hold = 0
        self._held = 0
        self._release = threading.Event()
        self.on_request: Callable[[Recorded], None] | None = None
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                server._handle(self, body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="recording-server", daemon=True)
        self.thread.start()

    def script(self, statuses: list[int], path: str | None = None) -> None:
        """The next answers, in order (for `path`, or for any path without a script of its own)."""
        with self._changed:
            self._scripts.setdefault(path, deque()).extend(statuses)

    def hold_next(self, count: int = 1) -> None:
        """The next `count` requests hang (recorded with status 0) until release(), then get no answer."""
        with self._changed:
            self._hold += count
            self._release.clear()

    def release(self) -> None:
        self._release.set()

    def _next_status(self, path: str) -> int:
        for key in (path, None):
            queue = self._scripts.get(key)
            if queue:
                return queue.popleft()
        return self.default_status

    def _handle(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        with self._changed:
            status = self._next_status(handler.path)
            hold = self._hold > 0
            if hold:
                self._hold -= 1
        # a held request is never answered (status 0): its client gives up or dies first
        record = Recorded(
            "POST", handler.path, {k.lower(): v for k, v in handler.headers.items()}, body, 0 if hold else status
        )
        if self.on_request is not None:
            self.on_request(record)
        with self._changed:
            self.requests.append(record)
            if hold:
                self._held += 1
            self._changed.notify_all()
        if hold:
            self._release.wait(120)
            handler.close_connection = True
            return
        reply = f'{{"status": {status}}}'.encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(reply)))
            handler.end_headers()
            handler.wfile.write(reply)
        except OSError:  # the client went away (a killed worker)
            pass

    def wait_for(self, predicate: Callable[[list[Recorded]], bool], timeout: float = 60) -> list[Recorded]:
        """Wait until predicate(requests so far) holds; the requests, or AssertionError."""
        deadline = time.time() + timeout
        with self._changed:
            while not predicate(self.requests):
                left = deadline - time.time()
                if left <= 0:
                    raise AssertionError(f"timed out; requests so far: {[(r.path, r.status) for r in self.requests]}")
                self._changed.wait(min(left, 0.5))
            return list(self.requests)

    def wait_held(self, count: int = 1, timeout: float = 60) -> None:
        self.wait_for(lambda _: self._held >= count, timeout)

    def stop(self) -> None:
        self.release()
        self.httpd.shutdown()
        self.httpd.server_close()
