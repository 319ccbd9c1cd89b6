"""A local HTTP server that answers the way a hostile or broken endpoint does:
a redirect elsewhere, an endless body, or a status line dripped a byte at a
time. It records every request it gets (as tests/fakes/recording_server.py does);
the site's workers reach it over real HTTP on 127.0.0.1."""

from __future__ import annotations

import select
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.fakes.recording_server import Recorded

CHUNK = b"x" * 65536


class HostileServer:
    def __init__(self, *, redirect_to: str = "", body_bytes: int = 0, drip_seconds: float = 0) -> None:
        """redirect_to: answer 307 to it; body_bytes: answer 200 with that long a body;
        drip_seconds: send the status line one byte every this many seconds."""
        self.requests: list[Recorded] = []
        self.in_flight = 0
        self.most_in_flight = 0  # requests being answered at the same time, at most
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                server.requests.append(
                    Recorded(
                        "POST",
                        self.path,
                        {k.lower(): v for k, v in self.headers.items()},
                        body,
                        307 if redirect_to else 200,
                    )
                )
                with server._lock:
                    server.in_flight += 1
                    server.most_in_flight = max(server.most_in_flight, server.in_flight)
                try:
                    if redirect_to:
                        self._answer(
                            b"HTTP/1.1 307 Temporary Redirect\r\nLocation: "
                            + redirect_to.encode()
                            + b"\r\nContent-Length: 0\r\n\r\n"
                        )
                    elif drip_seconds:
                        for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n":
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                            if self._client_gone(drip_seconds):
                                break
                    else:
                        self._answer(f"HTTP/1.1 200 OK\r\nContent-Length: {body_bytes}\r\n\r\n".encode())
                        left = body_bytes
                        while left > 0:
                            self.wfile.write(CHUNK[:left])
                            left -= len(CHUNK)
                except OSError:  # the client hung up: what it should do
                    pass
                finally:
                    self.close_connection = True
                    with server._lock:
                        server.in_flight -= 1

            def _client_gone(self, wait: float) -> bool:
                """Waits up to `wait` seconds; True as soon as the client closes its end."""
                readable, _, _ = select.select([self.connection], [], [], wait)
                try:
                    return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
                except OSError:
                    return True

            def _answer(self, head: bytes) -> None:
                self.wfile.write(head)
                self.wfile.flush()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.httpd.serve_forever, name="hostile-server", daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
