"""The site's web server: Daphne, with a limit on each WebSocket's unsent output.

Run it as Daphne, with Daphne's options:

    python -m callsite.daphne_server -b 127.0.0.1 -p 8000 callsite.asgi:application

Why: Daphne hands each `websocket.send` of the ASGI app to autobahn, which
writes it into the Twisted transport at once. `send` never waits, so a client
that stops reading makes the process keep every frame it is sent, without
limit, and ASGI has no way to tell the app. Twisted has a public one: a
transport pauses its registered IPushProducer when its write buffer passes
its `bufferSize` (64 KiB) and resumes it once everything is written.

How: for each WebSocket this server registers an OutputGate as the producer
of the socket's transport (in place of the HTTP channel the socket was
upgraded from, which registered itself). While the transport is paused the
app's frames wait in the gate, counted in bytes; on resume they are written
until the transport pauses again. When the waiting frames pass
CALL_SOCKET_MAX_BUFFER_BYTES (0: no limit) the gate drops them and closes
the socket with 4408 (the client has OUTPUT_FULL_CLOSE_SECONDS to read up to
the close frame, then the connection is dropped). Unsent output per socket
thus stays under that limit plus the transport's 64 KiB plus one frame.

The gate also drops frames sent to a socket that is already closing (a
client that closes while frames are on their way is normal; autobahn would
raise Disconnected into the app).

Only public names are used: Daphne's Server (create_application,
handle_reply, protocol_disconnected) and CommandLineInterface.server_class,
autobahn's protocol state and handle_reply, Twisted's
registerProducer/unregisterProducer and IPushProducer.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any

from daphne.cli import CommandLineInterface
from daphne.server import Server  # first: it installs Twisted's asyncio reactor
from twisted.internet.interfaces import IPushProducer
from zope.interface import implementer

logger = logging.getLogger("invitations.socket")

CLOSE_CODE_OUTPUT_FULL = 4408
# How long a socket closed for its output has to read up to the close frame (autobahn's
# closing handshake timeout, 1 s in Daphne, is too short for a slow client to learn why).
OUTPUT_FULL_CLOSE_SECONDS = 10


def _size(message: dict[str, Any]) -> int:
    text = message.get("text")
    if text is not None:
        return len(text.encode("utf-8", "surrogatepass"))
    return len(message.get("bytes") or b"")


@implementer(IPushProducer)
class OutputGate:
    """The app's messages to one WebSocket, held while its transport is paused.

    Small while idle (one per socket): slots, and the queue made at the first pause."""

    __slots__ = ("protocol", "max_bytes", "paused", "closed", "held", "held_bytes")

    def __init__(self, protocol: Any, max_bytes: int) -> None:
        self.protocol = protocol
        self.max_bytes = max_bytes
        self.paused = False
        self.closed = False  # closed by the gate (4408) or connection lost: drop everything
        self.held: deque[dict[str, Any]] | None = None
        self.held_bytes = 0

    def send(self, message: dict[str, Any]) -> None:
        if self.closed:
            return
        if self.paused or self.held:
            if self.held is None:
                self.held = deque()
            self.held.append(message)
            self.held_bytes += _size(message)
            if self.max_bytes and self.held_bytes > self.max_bytes:
                self._overflow()
            return
        self._write(message)

    def _write(self, message: dict[str, Any]) -> None:
        protocol = self.protocol
        if message["type"] == "websocket.send" and protocol.state != protocol.STATE_OPEN:
            # Closing or closed (the client's close frame came, or ours went): the frame
            # has nowhere to go. Before the accept (CONNECTING) Daphne's own check stands.
            if protocol.state != protocol.STATE_CONNECTING:
                return
        protocol.handle_reply(message)

    def _overflow(self) -> None:
        logger.warning(
            "WebSocket %s closed with %d: %d bytes of unsent output (limit %d)",
            self.protocol.client_addr,
            CLOSE_CODE_OUTPUT_FULL,
            self.held_bytes,
            self.max_bytes,
        )
        self.held = None
        self.held_bytes = 0
        self.closed = True
        self.protocol.closeHandshakeTimeout = OUTPUT_FULL_CLOSE_SECONDS
        self.protocol.handle_reply({"type": "websocket.close", "code": CLOSE_CODE_OUTPUT_FULL})

    # IPushProducer, called by the transport
    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False
        # each write may pause the transport again (it calls pauseProducing before returning)
        while self.held and not self.paused and not self.closed:
            message = self.held.popleft()
            self.held_bytes -= _size(message)
            self._write(message)

    def stopProducing(self) -> None:
        self.closed = True
        self.held = None
        self.held_bytes = 0


class CallServer(Server):
    """Daphne's Server with an OutputGate in front of every WebSocket."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.output_gates: dict[Any, OutputGate] = {}

    def create_application(self, protocol: Any, scope: dict[str, Any]) -> Any:
        queue = super().create_application(protocol, scope)
        if queue is not None and scope["type"] == "websocket":
            from django.conf import (
                settings,  # the app (loaded by now) has set Django up
            )

            gate = OutputGate(protocol, settings.CALL_SOCKET_MAX_BUFFER_BYTES)
            transport = protocol.transport
            transport.unregisterProducer()  # the HTTP channel's, from before the upgrade
            transport.registerProducer(gate, True)
            self.output_gates[protocol] = gate
        return queue

    async def handle_reply(self, protocol: Any, message: dict[str, Any]) -> None:
        gate = self.output_gates.get(protocol)
        if gate is None:
            return await super().handle_reply(protocol, message)
        # as Daphne: nothing for a connection that is gone
        if protocol not in self.connections or self.connections[protocol].get("disconnected"):
            return
        gate.send(message)

    def protocol_disconnected(self, protocol: Any) -> None:
        gate = self.output_gates.pop(protocol, None)
        if gate is not None:
            gate.stopProducing()
        super().protocol_disconnected(protocol)


class CallServerCommandLine(CommandLineInterface):
    server_class = CallServer


if __name__ == "__main__":
    CallServerCommandLine.entrypoint()
