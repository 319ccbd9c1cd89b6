"""Every refusal PROTOCOL lists for app tokens, and the cases around each edge.

Tokens are forged byte by byte where PyJWT would refuse to make them (alg
"none", a header that lies about the algorithm, claims of the wrong type), so
that the verifier, not the minting library, is what is tested.
"""

import base64
import hashlib
import hmac
import json
import time

import pytest

from invitations.accounts.app_tokens import (
    CLOCK_SKEW_SECONDS,
    MAX_LIFETIME_SECONDS,
    AppRecord,
    TokenRefused,
    app_token_mint,
    app_token_verify,
)

SECRET = "3f9a1c7e5b2d8f4a6c0e9b1d7f3a5c8e2b4d6f8a0c1e3b5d7f9a2c4e6b8d0f1a"  # as app_add makes: 64 hex
OLD_SECRET = "previous-secret-still-honoured-while-rotating-1234"
APPS = {
    "app1": AppRecord("app1", (SECRET, OLD_SECRET)),
    "off": AppRecord("off", (SECRET,), enabled=False),
}


def find_app(app_id):
    return APPS.get(app_id)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(claims, *, header=None, secret=SECRET, digest=hashlib.sha256, signature=None):
    """A compact JWS made by hand: any header, any claims, an HMAC with `digest`."""
    header = {"alg": "HS256", "typ": "JWT"} if header is None else header
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    if signature is None:
        signature = b64(hmac.new(secret.encode(), signing_input.encode(), digest).digest())
    return f"{signing_input}.{signature}"


def claims(**overrides):
    now = int(time.time())
    base = {"iss": "app1", "sub": "alice", "name": "Alice", "iat": now, "exp": now + 3600}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not ...}


def refused(token, why=None):
    with pytest.raises(TokenRefused) as caught:
        app_token_verify(token, find_app=find_app)
    if why is not None:
        assert caught.value.why == why
    return caught.value


# ---- accepted ----------------------------------------------------------------------


def test_a_minted_token_proves_its_user():
    token = app_token_mint(app_id="app1", server_secret=SECRET, user_id="alice", name="Alice")
    user = app_token_verify(token, find_app=find_app)
    assert (user.app_id, user.user_id, user.name) == ("app1", "alice", "Alice")


def test_a_hand_made_token_is_accepted_and_name_is_optional():
    user = app_token_verify(forge(claims(name=...)), find_app=find_app)
    assert (user.user_id, user.name) == ("alice", None)


def test_a_token_signed_with_the_previous_secret_is_accepted_while_listed():
    assert app_token_verify(forge(claims(), secret=OLD_SECRET), find_app=find_app).user_id == "alice"


def test_a_lifetime_of_exactly_24_hours_is_accepted():
    now = int(time.time())
    assert app_token_verify(forge(claims(iat=now, exp=now + MAX_LIFETIME_SECONDS)), find_app=find_app)


def test_an_issue_time_slightly_ahead_is_accepted_as_clock_skew():
    now = int(time.time())
    assert app_token_verify(forge(claims(iat=now + CLOCK_SKEW_SECONDS - 5, exp=now + 600)), find_app=find_app)


def test_the_longest_userid_and_name_with_every_allowed_symbol_are_accepted():
    user_id = ("Az09_.@-" * 8)[:64]
    name = "é" * 64  # characters, not bytes
    user = app_token_verify(forge(claims(sub=user_id, name=name)), find_app=find_app)
    assert (user.user_id, user.name) == (user_id, name)


def test_a_header_without_typ_is_accepted():
    assert app_token_verify(forge(claims(), header={"alg": "HS256"}), find_app=find_app)


# ---- the algorithm -------------------------------------------------------------------


def test_alg_none_without_signature_is_refused():
    refused(forge(claims(), header={"alg": "none", "typ": "JWT"}, signature=""), "algorithm")


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "", None])
def test_alg_none_in_any_spelling_even_with_a_valid_hmac_is_refused(alg):
    refused(forge(claims(), header={"alg": alg, "typ": "JWT"}), "algorithm")


def test_a_header_without_alg_is_refused():
    refused(forge(claims(), header={"typ": "JWT"}), "algorithm")


@pytest.mark.parametrize("alg,digest", [("HS384", hashlib.sha384), ("HS512", hashlib.sha512)])
def test_other_hmac_algorithms_with_the_right_secret_are_refused(alg, digest):
    refused(forge(claims(), header={"alg": alg, "typ": "JWT"}, digest=digest), "algorithm")


@pytest.mark.parametrize("alg", ["RS256", "ES256", "PS256", "EdDSA"])
def test_key_confusion_an_asymmetric_alg_with_an_hmac_signature_is_refused(alg):
    refused(forge(claims(), header={"alg": alg, "typ": "JWT"}), "algorithm")


def test_another_token_type_is_refused():
    refused(forge(claims(), header={"alg": "HS256", "typ": "at+jwt"}), "type")


def test_a_critical_header_extension_is_refused():
    refused(forge(claims(), header={"alg": "HS256", "typ": "JWT", "crit": ["exp"], "exp": 1}))


# ---- the signature -------------------------------------------------------------------


def test_a_token_signed_with_another_secret_is_refused():
    refused(forge(claims(), secret="not-the-app-secret-at-all-0123456789abcdef"), "signature")


def test_a_payload_changed_after_signing_is_refused():
    header, _, signature = forge(claims()).split(".")
    _, payload, _ = forge(claims(sub="mallory")).split(".")
    refused(f"{header}.{payload}.{signature}", "signature")


def test_a_token_of_another_app_with_the_same_user_is_refused():
    # signed for app1, claiming to be app2 (unknown): the key is looked up by iss
    refused(forge(claims(iss="app2")), "unknown_app")


def test_an_empty_signature_is_refused():
    refused(forge(claims(), signature=""), "signature")


# ---- time ------------------------------------------------------------------------------


def test_an_expired_token_is_refused():
    now = int(time.time())
    refused(forge(claims(iat=now - 120, exp=now - 1)), "expired")


def test_a_lifetime_one_second_over_24_hours_is_refused():
    now = int(time.time())
    refused(forge(claims(iat=now, exp=now + MAX_LIFETIME_SECONDS + 1)), "lifetime")


def test_a_far_future_issue_time_cannot_stretch_the_lifetime():
    # iat in a year, exp a day after: within 24 h of iat, but not of now
    later = int(time.time()) + 365 * 86400
    refused(forge(claims(iat=later, exp=later + 3600)), "issued_in_future")


@pytest.mark.parametrize(
    "field,value",
    [
        ("iat", "1700000000"),
        ("exp", "9999999999"),
        ("iat", 1.5),
        ("exp", True),
        ("exp", [1]),
    ],
)
def test_times_that_are_not_integers_are_refused(field, value):
    refused(forge(claims(**{field: value})))


# ---- claims ----------------------------------------------------------------------------


@pytest.mark.parametrize("missing", ["iss", "sub", "iat", "exp"])
def test_each_missing_claim_is_refused(missing):
    refused(forge(claims(**{missing: ...})), "missing_claim")


@pytest.mark.parametrize("missing", ["iss", "sub", "iat", "exp"])
def test_each_null_claim_is_refused(missing):
    refused(forge(claims(**{missing: None})))


@pytest.mark.parametrize(
    "user_id",
    [
        "",
        "a" * 65,
        "bad user",
        "ü",
        "a/b",
        "a:b",
        "a\nb",
        "a\u200bb",
        "<script>",
    ],
)
def test_a_subject_outside_the_pattern_is_refused(user_id):
    refused(forge(claims(sub=user_id)), "subject")


@pytest.mark.parametrize("user_id", [123, ["alice"], {"id": "alice"}, True])
def test_a_subject_that_is_not_a_string_is_refused(user_id):
    refused(forge(claims(sub=user_id)))


@pytest.mark.parametrize("name", ["x" * 65, 42, ["Alice"], {"first": "A"}])
def test_a_name_too_long_or_not_a_string_is_refused(name):
    refused(forge(claims(name=name)), "name")


@pytest.mark.parametrize("iss", [123, ["app1"], "", "a" * 65])
def test_an_issuer_that_is_not_an_app_id_is_refused(iss):
    refused(forge(claims(iss=iss)), "issuer")


# ---- the app ----------------------------------------------------------------------------


def test_an_unknown_app_is_refused():
    refused(app_token_mint(app_id="nobody", server_secret=SECRET, user_id="alice"), "unknown_app")


def test_a_disabled_app_is_refused_even_with_its_right_secret():
    refused(app_token_mint(app_id="off", server_secret=SECRET, user_id="alice"), "app_disabled")


def test_a_rotated_out_secret_is_refused():
    APPS["rotated"] = AppRecord("rotated", (SECRET,))
    try:
        refused(app_token_mint(app_id="rotated", server_secret=OLD_SECRET, user_id="alice"), "signature")
    finally:
        del APPS["rotated"]


# ---- malformed input: always TokenRefused, never another exception -------------------------


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "a.b",
        "a.b.c",
        "..",
        "a..",
        "...",
        "e30.e30.",
        "e30.W10.",
        "bnVsbA.e30.",
        b64(b'{"alg":"HS256"}') + "." + b64(b"[1,2]") + ".",
        b64(b'{"alg":"HS256"}') + "." + b64(b"not json") + ".",
        b64(b"\xff\xfe") + "." + b64(b"{}") + ".",
        "x" * 5000,
        None,
        42,
        b"bytes.are.not.str",
    ],
)
def test_malformed_input_raises_only_the_refusal(token):
    refused(token)


def test_find_app_is_never_called_with_an_untrusted_oversized_id():
    seen = []

    def recording_find_app(app_id):
        seen.append(app_id)
        return None

    with pytest.raises(TokenRefused):
        app_token_verify(forge(claims(iss="a" * 65)), find_app=recording_find_app)
    assert seen == []
