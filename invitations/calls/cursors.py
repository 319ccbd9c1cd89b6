"""nextFlag: an opaque number for "after this call" in the invitation list.

The list pages by the call's integer id (keyset, fast at any depth), but the
id itself would tell any user how many calls the site handled between two of
theirs. So the id goes out through a keyed permutation (a 4-round Feistel
network over 52 bits, rounds keyed from SECRET_KEY): a number, as PROTOCOL
allows, below 2**53 (exact in a JavaScript number), never 0 (0 means the
first page), and turned back into the id with no lookup.
"""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings

_HALF_BITS = 26
_HALF_MASK = (1 << _HALF_BITS) - 1
_ROUNDS = 4
LIMIT = 1 << (2 * _HALF_BITS)  # ids below this are disguised (4.5e15 calls)


def _round(i: int, half: int) -> int:
    key = hashlib.sha256(f"callsite nextFlag {settings.SECRET_KEY}".encode()).digest()
    digest = hmac.new(key, f"{i}:{half}".encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:4], "big") & _HALF_MASK


def next_flag_for(call_pk: int) -> int:
    """The nextFlag that continues the list after the call `call_pk`."""
    if not 0 < call_pk < LIMIT:  # beyond 4.5e15 ids: plain (and still never 0)
        return call_pk + LIMIT
    left, right = call_pk >> _HALF_BITS, call_pk & _HALF_MASK
    for i in range(_ROUNDS):
        left, right = right, left ^ _round(i, right)
    return ((left << _HALF_BITS) | right) + 1


def call_pk_after(next_flag: int) -> int:
    """The call id a nextFlag stands for (a made-up flag gives some id: the
    list is the user's own, so it only picks where their page starts)."""
    if next_flag > LIMIT:
        return next_flag - LIMIT
    value = next_flag - 1
    left, right = value >> _HALF_BITS, value & _HALF_MASK
    for i in reversed(range(_ROUNDS)):
        left, right = right ^ _round(i, left), left
    return (left << _HALF_BITS) | right
