"""A socket's limits against a real Daphne (the site's server, callsite/daphne_server.py):
a client that stops reading is closed with 4408 before the process grows, a
client that closes while frames are on their way leaves no traceback, and the
command rate limit answers rate_limited and recovers.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
import time

import pytest
from django.contrib.auth import get_user_model

from invitations.accounts import token_actions
from invitations.models import Connection
from tests.processes import start_daphne
from tests.test_faults import _db, _wait_for
from tests.wsclient import Client

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


class RawSocket:
    """A WebSocket client on a plain TCP socket, so a test decides when (and whether) it reads."""

    def __init__(self, base: str, token: str, device_id: str, receive_buffer: int = 4096) -> None:
        host, port = base.removeprefix("http://").split(":")
        self.sock = socket.socket()
        # a small receive window: the kernel holds little of what the client does not read
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.connect((host, int(port)))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET /ws/calls/?deviceID={device_id} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                f"Authorization: Bearer {token}\r\n\r\n"
            ).encode()
        )
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError
        self.buffer += chunk

    def _take(self, n: int) -> bytes:
        while len(self.buffer) < n:
            self._fill()
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def frame(self) -> tuple[int, bytes]:
        """The next frame from the server: (opcode, payload)."""
        first, second = self._take(2)
        length = second & 0x7F
        if length == 126:
            length = struct.unpack("!H", self._take(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", self._take(8))[0]
        return first & 0x0F, self._take(length)

    def send_text(self, text: str) -> None:
        payload, mask = text.encode(), os.urandom(4)
        n = len(payload)
        header = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack("!H", n))
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def send_close(self, code: int) -> None:
        payload, mask = struct.pack("!H", code), os.urandom(4)
        self.sock.sendall(
            bytes([0x88, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        )

    def close(self) -> None:
        self.sock.close()


def close_code(payload: bytes) -> int:
    return struct.unpack("!H", payload[:2])[0]


def make_users(n: int) -> None:
    User = get_user_model()
    User.objects.bulk_create(
        [User(username=f"listed{i:04d}", first_name="Listed", last_name=f"User {i}") for i in range(n)]
    )


def token_for(name: str) -> str:
    user, _ = get_user_model().objects.get_or_create(username=name)
    return token_actions.api_token_create(user=user)


@pytest.mark.parametrize("command_limit", ["default", "off"])
async def test_a_client_that_stops_reading_is_closed_with_4408_before_daphne_grows(process_logs, command_limit):
    """At the production output limit (1 MiB), with the command limit at its default (20 a
    second) and off (the output limit alone): a client that asks for 200 users (about
    12 KB) 25 times a second and reads nothing."""
    await _db(make_users, 200)
    sink_token, normal_token = await _db(token_for, "sink"), await _db(token_for, "normal")
    env = {"CALL_SOCKET_COMMANDS_PER_SECOND": 0} if command_limit == "off" else {}
    daphne, base = await asyncio.to_thread(start_daphne, process_logs, **env)
    try:
        normal = await Client.connect(base, normal_token, device_id="normal")
        sink = await asyncio.to_thread(RawSocket, base, sink_token, "sink")
        opcode, hello = await asyncio.to_thread(sink.frame)
        assert json.loads(hello)["type"] == "hello"
        baseline = peak = rss_kib(daphne.popen.pid)
        command = json.dumps({"type": "cmd", "id": 1, "cmd": "queryUsers", "data": {"count": 200}})
        started, sent = time.monotonic(), 0
        while time.monotonic() - started < 90 and "4408" not in daphne.output():
            try:
                await asyncio.to_thread(sink.send_text, command)
            except OSError:  # closed by the server
                break
            sent += 1
            if sent % 25 == 0:
                peak = max(peak, rss_kib(daphne.popen.pid))
            await asyncio.sleep(0.04)
        closed_after = time.monotonic() - started
        peak = max(peak, rss_kib(daphne.popen.pid))
        assert "4408" in daphne.output(), daphne.output()[-3000:]

        # The client reads now: what was already on its way, then the close frame 4408.
        def read_to_close() -> tuple[int, int]:
            frames = 0
            while True:
                opcode, payload = sink.frame()
                if opcode == 8:
                    return close_code(payload), frames
                frames += 1

        code, frames = await asyncio.to_thread(read_to_close)
        assert code == 4408
        assert await _db(_wait_for, lambda: not Connection.objects.filter(device_id="sink").exists(), 30)
        growth = (peak - baseline) / 1024
        print(
            f"\nnon-reading client, command limit {command_limit}: closed 4408 after {closed_after:.1f} s "
            f"and {sent} commands; {frames} frames had reached its side; Daphne RSS {baseline / 1024:.0f} MB, "
            f"peak {peak / 1024:.0f} MB (+{growth:.1f} MB)"
        )
        assert growth < 16, f"Daphne grew {growth:.1f} MB"

        # the other socket of the same process is untouched
        answer = await normal.cmd("queryUsers", count=200)
        assert answer["ok"] and len(answer["data"]["users"]) == 200, answer
        await normal.close()
    finally:
        await asyncio.to_thread(daphne.stop)


async def test_a_client_that_closes_while_frames_are_sent_leaves_no_traceback(process_logs):
    await _db(make_users, 200)
    token = await _db(token_for, "leaver")
    # neither limit: this is about the close alone (the output limit would close it first)
    daphne, base = await asyncio.to_thread(
        start_daphne, process_logs, CALL_SOCKET_COMMANDS_PER_SECOND=0, CALL_SOCKET_MAX_BUFFER_BYTES=0
    )
    command = json.dumps({"type": "cmd", "id": 1, "cmd": "queryUsers", "data": {"count": 200}})

    def leave(device_id: str) -> None:
        # A slow reader closes while answers are still being written: Daphne's side is
        # closed at once, its TCP connection stays until the buffered frames are out.
        client = RawSocket(base, token, device_id)
        client.frame()  # hello
        for _ in range(300):
            client.send_text(command)
        time.sleep(1.0)
        client.send_close(1001)
        time.sleep(1.0)
        client.close()

    try:
        for round_ in range(2):
            await asyncio.to_thread(leave, f"leaver{round_}")
        # the sockets' commands are answered (or dropped) and their disconnect handled
        assert await _db(_wait_for, lambda: not Connection.objects.filter(user__username="leaver").exists(), 60)
        await asyncio.sleep(1.5)  # Daphne reports a failed application within a second
        output = daphne.output()
        assert "Traceback" not in output and "Disconnected" not in output, output[-3000:]
    finally:
        await asyncio.to_thread(daphne.stop)
