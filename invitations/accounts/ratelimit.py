"""Rate limits: a sliding log per counter in Redis (a sorted set of the
attempts of the last window, scored by their time), keys under
settings.REDIS_PREFIX so that sites and test runs sharing a Redis stay apart.
A limit of N per window allows at most N attempts in ANY window of that
length, wherever it starts: an attempt is refused while the window before it
already holds N, and each slot comes back when its attempt is a window old.
(Fixed windows let 2N through around a boundary; a token bucket of burst N
refilling N per window lets nearly 2N through in a window that starts full.)

- invitations: callInvite / callingInvite per user per minute
  (RATE_LIMIT_INVITES_PER_MINUTE), and the invitees they name
  (RATE_LIMIT_INVITEES_PER_MINUTE);
- media signals: callSignal per user per minute (CALL_SIGNAL_RATE_PER_MINUTE);
- sign-in (token endpoint and login page alike, both go through
  django.contrib.auth.authenticate): failed attempts per (username, client
  address) (RATE_LIMIT_AUTH_FAILURES_PER_USERNAME) and per client address
  (RATE_LIMIT_AUTH_FAILURES_PER_IP) per RATE_LIMIT_AUTH_WINDOW_SECONDS. Over
  a limit even the right password is refused until the oldest failure is a
  window old, which is what stops password guessing; keyed on the address
  too, so that a flood against a name does not lock its owner out elsewhere;
- app tokens (PROTOCOL "Apps"): failed token checks per client address
  (RATE_LIMIT_APP_TOKEN_FAILURES_PER_IP per RATE_LIMIT_AUTH_WINDOW_SECONDS).
  Over the limit the address's tokens are refused unchecked (`rate_limited`)
  until its oldest failure is a window old.

Check and count are one atomic step (a Lua script): every attempt takes its
slot before the password is checked, and a successful one gives exactly that
slot back, so a parallel burst cannot slip past the limit while the checks run.
The time is Redis's clock (TIME, read inside the script), one clock for
every web process: with each process's own clock, a host a few seconds ahead
would drop the others' attempts from the window that much early (and a host
more than a window behind would not be limited at all). Tests set `clock` to
read Python's clock instead, which they control (time-machine).

The client address is client_address(): the right-most hop not added by one
of the TRUSTED_PROXY_COUNT proxies in front (X-Forwarded-For), never a value
the client wrote.

A limit of 0 turns that limit off. If Redis cannot be reached the limits
fail open (logged): refusing every call because a counter is unavailable
would be worse than not counting for a while. After a failure the limiter
does not ask Redis again for REDIS_AWAY_SECONDS, so that a Redis that stops
answering costs one timeout (1 s), not one per attempt.
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
import time
from collections.abc import Callable, Iterable
from typing import Any

import redis
from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied

from invitations.calls.errors import CallError

logger = logging.getLogger(__name__)

_client: redis.Redis | None = None
_client_url = ""
_scripts: dict[str, Any] = {}
REDIS_AWAY_SECONDS = 5.0
_away_until = 0.0  # time.monotonic() before which Redis is not asked (it just failed)

# None: Redis's clock (TIME); tests set a function returning seconds (time.time) to control it.
clock: Callable[[], float] | None = None


def _redis() -> redis.Redis:
    global _client, _client_url, _away_until
    if _client is None or _client_url != settings.REDIS_URL:
        _client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1)
        _client_url = settings.REDIS_URL
        _scripts.clear()
        _away_until = 0.0
    return _client


def _redis_away() -> bool:
    """True for REDIS_AWAY_SECONDS after a failure: the limits stay open without asking."""
    _redis()  # another REDIS_URL (a test's) starts afresh
    return time.monotonic() < _away_until


def _failed(what: str) -> None:
    global _away_until
    _away_until = time.monotonic() + REDIS_AWAY_SECONDS
    logger.warning("rate limit counter unavailable (Redis); %s for %g s", what, REDIS_AWAY_SECONDS)


def _run(script: str, keys: list[str], args: list[Any]) -> Any:
    """EVALSHA (the script's text is sent only when Redis does not know it yet)."""
    client = _redis()
    if script not in _scripts:
        _scripts[script] = client.register_script(script)
    return _scripts[script](keys=keys, args=args, client=client)


# The time (ms) in a script: ARGV[1] when given (a test's clock), else Redis's TIME.
_NOW = """
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
"""

# KEYS: logs (sorted sets); ARGV: now (ms, or '' for Redis's clock), unused, the
# window (ms), this attempt's id, then (limit, amount) per key. Drops what left
# the window (an entry exactly a window old has left it: the window before `now`
# is (now - window, now]); refuses (returns the 1-based index of the first full
# log) without adding anything, else adds `amount` entries (id:1..id:amount) at
# `now` to every log and returns 0. A log thus never holds more than its limit.
_TAKE = (
    _NOW
    + """
local window, id = tonumber(ARGV[3]), ARGV[4]
local oldest = now - window + 1
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. oldest)
  if redis.call('ZCARD', key) + tonumber(ARGV[4 + 2 * i]) > tonumber(ARGV[3 + 2 * i]) then return i end
end
for i, key in ipairs(KEYS) do
  local amount = tonumber(ARGV[4 + 2 * i])
  if amount > 0 then
    for n = 1, amount do redis.call('ZADD', key, now, id .. ':' .. n) end
    redis.call('PEXPIRE', key, window + 1000)
  end
end
return 0
"""
)

Counter = tuple[str, int, int]  # (key, limit, amount)


def _key(scope: str, ident: str) -> str:
    return f"{settings.REDIS_PREFIX}:ratelimit:{scope}:{ident}"


# KEYS: logs; ARGV: now (ms, or ''), the window (ms), then the limit per key.
# 1 if one log already holds its limit within the window, else 0 (reads only).
_FULL = (
    _NOW
    + """
local oldest = now - tonumber(ARGV[2]) + 1
for i, key in ipairs(KEYS) do
  if redis.call('ZCOUNT', key, oldest, '+inf') >= tonumber(ARGV[2 + i]) then return 1 end
end
return 0
"""
)


def _now_arg() -> int | str:
    """The time for a script: '' (Redis's clock) unless a test set `clock`."""
    return "" if clock is None else int(clock() * 1000)


def _take(counters: list[Counter], window: int, attempt_id: str | None = None) -> int:
    """Atomically log an attempt in every (key, limit, amount) counter unless one
    would pass its limit within the last `window` seconds; 0 when logged, else
    the 1-based index (in `counters`) of the refusing one. `attempt_id` names the
    entries, for _give_back()."""
    # counters with limit 0 are off; remember where the others stand in the caller's list
    positions = [i for i, c in enumerate(counters, 1) if c[1] > 0]
    counters = [counters[i - 1] for i in positions]
    if not counters or _redis_away():
        return 0
    args: list[Any] = [_now_arg(), "", window * 1000, attempt_id or secrets.token_hex(8)]
    for _, limit, amount in counters:
        args += [limit, amount]
    try:
        refused = int(_run(_TAKE, [c[0] for c in counters], args))
        return positions[refused - 1] if refused else 0
    except redis.RedisError:
        _failed(f"not limiting {counters[0][0]}")
        return 0


def _give_back(counters: list[Counter], attempt_id: str) -> None:
    """Remove one attempt's entries (a successful sign-in); nothing else in the logs moves."""
    counters = [c for c in counters if c[1] > 0]
    if not counters or _redis_away():
        return
    try:
        pipe = _redis().pipeline(transaction=False)
        for key, _, amount in counters:
            pipe.zrem(key, *[f"{attempt_id}:{n}" for n in range(1, amount + 1)])
        pipe.execute()
    except redis.RedisError:
        _failed("a sign-in slot is not given back, and no limit is counted")


def _peek(counters: list[Counter], window: int) -> bool:
    """True if one of the counters already holds its limit within the last `window` seconds (reads only)."""
    counters = [c for c in counters if c[1] > 0]
    if not counters or _redis_away():
        return False
    try:
        return bool(int(_run(_FULL, [c[0] for c in counters], [_now_arg(), window * 1000] + [c[1] for c in counters])))
    except redis.RedisError:
        _failed("not limiting sign-in")
        return False


def signal_attempt(user: Any) -> None:
    """Count one callSignal of `user`; refuse it over CALL_SIGNAL_RATE_PER_MINUTE."""
    limit = settings.CALL_SIGNAL_RATE_PER_MINUTE
    if _take([(_key("signal", str(user.pk)), limit, 1)], 60):
        raise CallError("rate_limited", f"at most {limit} signals per minute")


def invitation_attempt(user: Any, invitees: int = 1) -> None:
    """Count one callInvite/callingInvite of `user` naming `invitees` users;
    refuse it, counting nothing, over either limit."""
    invites_limit = settings.RATE_LIMIT_INVITES_PER_MINUTE
    invitees_limit = settings.RATE_LIMIT_INVITEES_PER_MINUTE
    refused = _take(
        [
            (_key("invite", str(user.pk)), invites_limit, 1),
            (_key("invitee", str(user.pk)), invitees_limit, max(invitees, 0)),
        ],
        60,
    )
    if refused == 1:
        raise CallError("rate_limited", f"at most {invites_limit} invitations per minute")
    if refused == 2:
        raise CallError("rate_limited", f"at most {invitees_limit} invitees per minute")


def _auth_counters(username: str, address: str) -> list[Counter]:
    address = address or "unknown"
    return [
        (_key("auth-user", f"{username.lower()[:150]}@{address}"), settings.RATE_LIMIT_AUTH_FAILURES_PER_USERNAME, 1),
        (_key("auth-ip", address), settings.RATE_LIMIT_AUTH_FAILURES_PER_IP, 1),
    ]


def auth_blocked(username: str, address: str) -> bool:
    """True while this (username, address) or this address has used up its failed sign-in attempts."""
    return _peek(_auth_counters(username, address), settings.RATE_LIMIT_AUTH_WINDOW_SECONDS)


def auth_check(username: str, ip: str) -> None:
    """Refuse early (no password check) while over a sign-in limit."""
    if auth_blocked(username, ip):
        raise CallError("rate_limited", "too many failed sign-in attempts: wait and try again")


def _app_token_counters(address: str) -> list[Counter]:
    return [(_key("app-token-ip", address or "unknown"), settings.RATE_LIMIT_APP_TOKEN_FAILURES_PER_IP, 1)]


def app_token_check(address: str) -> None:
    """Refuse (no token check) while the address has used up its failed app-token checks."""
    if _peek(_app_token_counters(address), settings.RATE_LIMIT_AUTH_WINDOW_SECONDS):
        raise CallError("rate_limited", "too many failed token checks from this address: wait and try again")


def app_token_failed(address: str) -> None:
    """Count one failed app-token check of the address (a full log stays full)."""
    _take(_app_token_counters(address), settings.RATE_LIMIT_AUTH_WINDOW_SECONDS)


def _valid_address(text: str) -> str | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.partition(":")[0]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def client_address_from(peer: str, forwarded_for: Iterable[str], trusted_proxies: int) -> str:
    """The client's address: `peer` (the TCP peer) when no proxy is trusted,
    else the right-most hop that none of the `trusted_proxies` proxies in
    front added. Each proxy appends the address it saw (nginx's
    $proxy_add_x_forwarded_for), so the hops a client wrote itself are
    left of those and never chosen. Fewer hops than proxies (a request that
    did not come through all of them): the left-most one there is."""
    if trusted_proxies <= 0:
        return peer
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",") if hop.strip()]
    hops.append(peer)
    chosen = hops[-(trusted_proxies + 1)] if len(hops) > trusted_proxies else hops[0]
    # A garbled entry where the client's address should be: the proxy's list is
    # not what we expect; key on it as a string rather than on the peer.
    return _valid_address(chosen) or chosen[:64]


def client_ip(request: Any) -> str:
    """client_address_from() for a Django request (sign-in, token, every view)."""
    meta = (getattr(request, "META", None) or {}) if request is not None else {}
    forwarded = meta.get("HTTP_X_FORWARDED_FOR")
    return client_address_from(
        meta.get("REMOTE_ADDR", ""), [forwarded] if forwarded else [], settings.TRUSTED_PROXY_COUNT
    )


def client_ip_from_scope(scope: dict) -> str:
    """client_address_from() for an ASGI scope (the WebSocket)."""
    client = scope.get("client") or ("", 0)
    forwarded = [value.decode("latin-1") for name, value in scope.get("headers", []) if name == b"x-forwarded-for"]
    return client_address_from(str(client[0] or ""), forwarded, settings.TRUSTED_PROXY_COUNT)


class RateLimitBackend(ModelBackend):
    """The sign-in backend, first in AUTHENTICATION_BACKENDS: takes a slot of
    both sign-in limits before checking the password and gives it back on
    success, so only failures stay counted. Its answer is final: a refusal
    (over a limit, or a wrong password) raises PermissionDenied, which stops
    Django from asking ModelBackend (listed after it only so that sessions
    naming it stay valid) to hash the same password again. The login page is
    limited without touching its view; the token endpoint tells a refusal by
    the limit apart with refused_by_limit()."""

    def authenticate(
        self, request: Any, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> Any:
        if username is None or password is None:
            return None
        counters = _auth_counters(str(username), client_ip(request))
        attempt_id = secrets.token_hex(8)
        if _take(counters, settings.RATE_LIMIT_AUTH_WINDOW_SECONDS, attempt_id):
            if request is not None:
                request.sign_in_refused_by_limit = True
            raise PermissionDenied("rate limited")
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            raise PermissionDenied("wrong username or password")
        _give_back(counters, attempt_id)
        return user


def refused_by_limit(request: Any) -> bool:
    """True if authenticate() refused this request because of a sign-in limit."""
    return bool(getattr(request, "sign_in_refused_by_limit", False))
