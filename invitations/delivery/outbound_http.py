"""Outbound HTTP: the one way push and webhook deliveries POST to a URL the
site did not write (a browser's push endpoint, an operator's webhook URL).

- The URL is parsed here, once; the host checked is the host connected to.
  Backslashes, userinfo, whitespace, control and non-ASCII characters are
  refused, so no other parser can read another host out of the same text.
- The host is resolved once and every address is checked: loopback,
  link-local, private and other non-global addresses are refused unless the
  policy lists the host. The connection goes to the address that was checked
  (the Host header and TLS certificate check use the name), so a name that
  resolves differently a moment later (DNS rebinding) reaches nothing new.
- Redirects are never followed: a 3xx is the answer.
- At most MAX_ANSWER_BYTES of the answer are read, and the whole exchange
  (connect, TLS, request, answer) ends by an overall deadline: a peer that
  drips a byte at a time never lets a per-read timeout fire, so a watchdog
  shuts the socket when the deadline passes.
"""

from __future__ import annotations

import http.client
import ipaddress
import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

import certifi

MAX_ANSWER_BYTES = 4096
DEFAULT_PORTS = {"http": 80, "https": 443}
_LABEL = r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?"
_HOST_NAME = re.compile(rf"^(?=.{{1,253}}$)({_LABEL}\.)*{_LABEL}\.?$")
_SAFE_URL = re.compile(r"^[\x21-\x7e]+$")  # printable ASCII, no space


class OutboundError(Exception):
    """No answer: the policy refused the URL, no connection, or the deadline passed."""


class Refused(OutboundError):
    """The policy refuses this URL or the addresses its host resolves to."""


class DeadlineExceeded(OutboundError):
    pass


@dataclass(frozen=True)
class Policy:
    schemes: frozenset[str]
    default_port_only: bool  # push: the push services listen on 443
    private_hosts: frozenset[str]  # hosts that may resolve to internal addresses


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # lower case; an IPv6 literal without brackets
    port: int
    path: str  # path and query: the request line's target

    @property
    def host_header(self) -> str:
        name = f"[{self.host}]" if ":" in self.host else self.host
        return name if self.port == DEFAULT_PORTS[self.scheme] else f"{name}:{self.port}"


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes  # at most MAX_ANSWER_BYTES


def parse(url: str, policy: Policy) -> Target:
    """The target of an outbound URL, or Refused with the reason."""
    if not isinstance(url, str) or not _SAFE_URL.match(url) or "\\" in url:
        raise Refused("not a plain URL (spaces, backslashes, control or non-ASCII characters)")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise Refused("not a URL") from None
    if parts.scheme not in policy.schemes:
        raise Refused(f"the scheme must be {' or '.join(sorted(policy.schemes))}")
    if "@" in parts.netloc:
        raise Refused("a user name or password in the URL")
    host = (parts.hostname or "").lower()
    if not host or not (_HOST_NAME.match(host) or _ip(host)):
        raise Refused("no valid host name")
    if port == 0:
        raise Refused("port 0")
    default = DEFAULT_PORTS[parts.scheme]
    if port is not None and port != default and policy.default_port_only:
        raise Refused(f"port {port}: only the default port is allowed")
    path = parts.path or "/"
    return Target(parts.scheme, host.rstrip("."), port or default, path + (f"?{parts.query}" if parts.query else ""))


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def is_internal(address: str) -> bool:
    """Loopback, link-local, private, shared, reserved, multicast or unspecified: not for outsiders' URLs."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def resolve(host: str, port: int) -> list[str]:
    """Every address the host has (an IP literal: itself)."""
    if _ip(host):
        return [host]
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def checked_addresses(target: Target, policy: Policy) -> list[str]:
    """The addresses to connect to, each checked; Refused if any is internal and the host is not listed."""
    try:
        addresses = resolve(target.host, target.port)
    except (OSError, UnicodeError) as exc:
        raise Refused(f"{target.host} does not resolve ({exc})") from None
    if not addresses:
        raise Refused(f"{target.host} does not resolve")
    if target.host not in policy.private_hosts:
        internal = [a for a in addresses if is_internal(a)]
        if internal:
            raise Refused(f"{target.host} is or resolves to an internal address ({internal[0]})")
    return addresses


def check(url: str, policy: Policy) -> Target:
    """What adding a URL checks: it parses and its host resolves to addresses the policy allows."""
    target = parse(url, policy)
    checked_addresses(target, policy)
    return target


@lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    return ssl.create_default_context(cafile=certifi.where())


class _Cutoff:
    """Shuts the connection's socket when the overall deadline passes."""

    def __init__(self, seconds: float) -> None:
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self.fired = False
        self._timer = threading.Timer(max(0.0, seconds), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sock = sock
            if self.fired:
                raise DeadlineExceeded("the deadline passed")

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            if self._sock is not None:
                try:
                    self._sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cancel(self) -> None:
        self._timer.cancel()


def post(url: str, *, body: bytes, headers: dict[str, str], policy: Policy, timeout: float, deadline: float) -> Answer:
    """One POST: `timeout` bounds each connect and read, `deadline` the whole exchange (seconds)."""
    target = parse(url, policy)
    ends_at = time.monotonic() + deadline
    addresses = checked_addresses(target, policy)
    error: OutboundError | None = None
    for address in addresses:
        left = ends_at - time.monotonic()
        if left <= 0:
            break
        try:
            return _exchange(target, address, body, headers, timeout, left)
        except _NotConnected as exc:  # the next address may answer; nothing was sent to this one
            error = OutboundError(str(exc))
    raise error or DeadlineExceeded(f"the deadline ({deadline:g} s) passed before an answer")


class _NotConnected(OutboundError):
    pass


def _exchange(
    target: Target, address: str, body: bytes, headers: dict[str, str], timeout: float, left: float
) -> Answer:
    cutoff = _Cutoff(left)
    connection = http.client.HTTPConnection(address, target.port, timeout=timeout)
    try:
        try:
            raw = socket.create_connection((address, target.port), timeout=min(timeout, left))
        except OSError as exc:
            raise _NotConnected(f"cannot connect to {address} port {target.port}: {exc}") from None
        connection.sock = raw  # closed with the connection, whatever happens next
        cutoff.watch(raw)
        if target.scheme == "https":
            connection.sock = _tls_context().wrap_socket(
                raw, server_hostname=target.host, do_handshake_on_connect=False
            )
            cutoff.watch(connection.sock)
            connection.sock.do_handshake()
        connection.request(
            "POST", target.path, body=body, headers={**headers, "Host": target.host_header, "Connection": "close"}
        )
        response = connection.getresponse()
        data = response.read(MAX_ANSWER_BYTES)  # the rest is never read: the connection closes
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        if cutoff.fired:
            raise DeadlineExceeded(f"the deadline passed before a whole answer from {target.host}") from None
        raise OutboundError(f"{type(exc).__name__}: {exc}") from None
    finally:
        cutoff.cancel()
        connection.close()
