"""Outbound HTTP (push and webhooks) against endpoints that misbehave: a huge
answer, an answer dripped a byte at a time, a redirect. Real sockets on
127.0.0.1 throughout (tests/fakes/hostile_server.py)."""

import json
import os
import subprocess
import sys
import time

import pytest
from django.utils import timezone

from invitations.calls import actions
from invitations.delivery import push, webhooks
from invitations.models import OutboxStatus, PushMessage, WebhookAttempt, WebhookMessage
from tests.fakes.hostile_server import HostileServer
from tests.fakes.push_service import Subscriber
from tests.processes import ROOT
from tests.site.test_settings_startup import run_settings

HUGE = 200 * 1024 * 1024

# Runs in a fresh interpreter: one push to a normal endpoint (imports, TLS and
# crypto warmed up), then one to an endpoint answering HUGE bytes; prints the
# peak resident set (VmHWM, kB) after each.
RSS_SCRIPT = """
import json, sys
import django
django.setup()
from invitations.delivery import webpush
from tests.fakes.push_service import Subscriber

def peak_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])

vapid = webpush.vapid_from_private(webpush.private_key_new())
peaks = []
for endpoint in sys.argv[1:]:
    keys = Subscriber(endpoint).subscription()["keys"]
    result = webpush.send(endpoint=endpoint, p256dh=keys["p256dh"], auth=keys["auth"], payload=b'{"x": 1}',
                          ttl=60, urgency="high", vapid=vapid, subject="mailto:ops@example.com",
                          timeout=10, deadline=20)
    peaks.append((result.status, len(result.text), peak_kb()))
print(json.dumps(peaks))
"""


@pytest.fixture
def hostile():
    servers = []

    def start(**kw) -> HostileServer:
        servers.append(HostileServer(**kw))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def test_a_200_mb_answer_leaves_the_senders_memory_as_it_was(hostile, push_service):
    huge = hostile(body_bytes=HUGE)
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="callsite.settings",
        CALL_PUSH_ENDPOINT_HOSTS="127.0.0.1",
        CALL_PUSH_ALLOW_HTTP="1",
        PYTHONPATH=str(ROOT),
    )
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", RSS_SCRIPT, push_service.endpoint(), f"{huge.base}/push/huge"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    (normal_status, _, before_kb), (huge_status, text_chars, after_kb) = json.loads(result.stdout)
    assert normal_status == 201 and huge_status == 200
    assert text_chars <= 500
    print(
        f"peak RSS {before_kb / 1024:.1f} MB before, {after_kb / 1024:.1f} MB after a 200 MB answer, "
        f"{time.monotonic() - started:.1f} s"
    )
    assert after_kb - before_kb < 4 * 1024, (before_kb, after_kb)


def test_a_dripping_push_service_is_cut_off_by_the_deadline(client, hostile, push_service, settings, alice, bob):
    settings.CALL_OUTBOX_HTTP_DEADLINE_SECONDS = 2
    settings.CALL_OUTBOX_HTTP_TIMEOUT_SECONDS = 10  # each byte arrives well within the per-read timeout
    drip = hostile(drip_seconds=1)
    subscriber = Subscriber(f"{drip.base}/push/drip")
    client.force_login(bob)
    response = client.post("/api/push/subscriptions", subscriber.subscription(), content_type="application/json")
    assert response.status_code == 200, response.content
    actions.call_invite(user=alice, invitees=["bob"], timeout=60)
    row = PushMessage.objects.get()

    started = time.monotonic()
    outcome = push.push_message_deliver(message_pk=row.pk)
    took = time.monotonic() - started

    assert outcome.startswith("retry in"), outcome
    assert took < 3.5, took
    row.refresh_from_db()
    assert row.attempt_count == 1 and row.status == OutboxStatus.PENDING
    assert len(drip.requests) == 1


@pytest.mark.django_db
def test_a_dripping_webhook_receiver_is_cut_off_before_the_lease_runs_out(hostile, settings, alice, bob):
    settings.CALL_OUTBOX_HTTP_DEADLINE_SECONDS = 2
    settings.CALL_OUTBOX_HTTP_TIMEOUT_SECONDS = 10
    settings.CALL_OUTBOX_LEASE_SECONDS = 4
    drip = hostile(drip_seconds=1)
    webhooks.webhook_endpoint_create(url=f"{drip.base}/hooks", event_types=["call.created"])
    actions.call_invite(user=alice, invitees=["bob"])
    row = WebhookMessage.objects.get()

    started = time.monotonic()
    outcome = webhooks.webhook_message_deliver(message_pk=row.pk)
    took = time.monotonic() - started

    assert outcome.startswith("retry in"), outcome
    assert took < 3.5, took  # within the lease: nobody else claimed the message meanwhile
    attempt = WebhookAttempt.objects.get()
    assert attempt.status_code is None and "deadline" in attempt.error
    assert len(drip.requests) == 1  # one attempt, one request


@pytest.mark.django_db
def test_a_huge_webhook_answer_is_read_no_further_than_the_excerpt(hostile, alice, bob):
    huge = hostile(body_bytes=HUGE)
    webhooks.webhook_endpoint_create(url=f"{huge.base}/hooks", event_types=["call.created"])
    actions.call_invite(user=alice, invitees=["bob"])
    started = time.monotonic()
    assert webhooks.webhook_message_deliver(message_pk=WebhookMessage.objects.get().pk) == "delivered"
    assert time.monotonic() - started < 5
    attempt = WebhookAttempt.objects.get()
    assert attempt.status_code == 200 and attempt.response_excerpt == "x" * 1000


@pytest.mark.django_db
def test_a_webhook_redirect_is_not_followed(hostile, receiver, alice, bob):
    redirect = hostile(redirect_to=receiver.url)
    webhooks.webhook_endpoint_create(url=f"{redirect.base}/hooks", event_types=["call.created"])
    actions.call_invite(user=alice, invitees=["bob"])
    assert webhooks.webhook_message_deliver(message_pk=WebhookMessage.objects.get().pk).startswith("retry in")
    assert len(redirect.requests) == 1 and receiver.requests == []
    assert WebhookAttempt.objects.get().status_code == 307
    assert WebhookMessage.objects.get().next_attempt_at > timezone.now()


def test_the_overall_deadline_must_be_shorter_than_the_lease():
    ok = run_settings(
        "from django.conf import settings; print(settings.CALL_OUTBOX_HTTP_DEADLINE_SECONDS)",
        SECRET_KEY="k" * 50,
        CALL_OUTBOX_LEASE_SECONDS="30",
    )
    assert ok.returncode == 0 and float(ok.stdout) < 30, ok.stderr
    derived = run_settings(
        "from django.conf import settings; print(settings.CALL_OUTBOX_HTTP_DEADLINE_SECONDS)",
        SECRET_KEY="k" * 50,
        CALL_OUTBOX_LEASE_SECONDS="4",
    )
    assert derived.returncode == 0 and float(derived.stdout) < 4, derived.stderr
    refused = run_settings(
        "pass", SECRET_KEY="k" * 50, CALL_OUTBOX_LEASE_SECONDS="30", CALL_OUTBOX_HTTP_DEADLINE_SECONDS="30"
    )
    assert refused.returncode != 0 and "CALL_OUTBOX_HTTP_DEADLINE_SECONDS" in refused.stderr


def _certificate_authority(tmp_path, name: str):
    """A CA and a server certificate for `name`, made here; the files (ca.pem, server.pem, server.key)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(2)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "server.pem").write_bytes(server.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "server.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return tmp_path / "ca.pem", tmp_path / "server.pem", tmp_path / "server.key"


def test_https_goes_to_the_checked_address_with_the_name_for_sni_and_the_certificate(tmp_path, monkeypatch):
    import ssl
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from invitations.delivery import outbound_http

    ca, cert, key = _certificate_authority(tmp_path, "hooks.example.test")
    server_names, hosts = [], []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            self.rfile.read(int(self.headers["Content-Length"]))
            hosts.append(self.headers["Host"])
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda sock, name, ctx: server_names.append(name)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        client_context = ssl.create_default_context(cafile=str(ca))
        monkeypatch.setattr(outbound_http, "_tls_context", lambda: client_context)  # trusts the test CA only
        monkeypatch.setattr(outbound_http, "resolve", lambda host, port: ["127.0.0.1"])  # the DNS answer only
        policy = outbound_http.Policy(
            schemes=frozenset({"https"}),
            default_port_only=False,
            private_hosts=frozenset({"hooks.example.test", "other.example.test"}),
        )
        port = httpd.server_address[1]
        answer = outbound_http.post(
            f"https://hooks.example.test:{port}/in", body=b"{}", headers={}, policy=policy, timeout=5, deadline=5
        )
        assert answer.status == 204
        assert server_names == ["hooks.example.test"] and hosts == [f"hooks.example.test:{port}"]
        with pytest.raises(outbound_http.OutboundError, match="certificate"):
            outbound_http.post(
                f"https://other.example.test:{port}/in", body=b"{}", headers={}, policy=policy, timeout=5, deadline=5
            )
        assert len(hosts) == 1
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.parametrize(
    "url",
    [
        "https://169.254.169.254\\.fcm.googleapis.com/x",
        "https://a@fcm.googleapis.com/x",
        "https://fcm.googleapis.com/ x",
        "https://fcm.googleapis.com/\u00e9",
        "https://fcm.googleapis.com:8443/x",
        "ftp://fcm.googleapis.com/x",
        "https://169.254.169.254%2F.fcm.googleapis.com/x",
        "https:///x",
        "https://fcm.googleapis.com:0/x",
    ],
)
def test_urls_another_parser_could_read_differently_are_refused(url):
    from invitations.delivery import outbound_http

    policy = outbound_http.Policy(schemes=frozenset({"https"}), default_port_only=True, private_hosts=frozenset())
    with pytest.raises(outbound_http.Refused):
        outbound_http.parse(url, policy)
    assert outbound_http.parse("https://FCM.googleapis.com./fcm/send/a?b=c#d", policy) == outbound_http.Target(
        "https", "fcm.googleapis.com", 443, "/fcm/send/a?b=c"
    )


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_worker_sends_a_dripped_message_once_per_attempt_never_twice_at_once(process_logs, hostile, alice, bob):
    from tests.delivery.test_outbox_processes import FAST, wait_until
    from tests.processes import start_worker

    drip = hostile(drip_seconds=0.5)  # the whole answer would take 18 s; the lease is 4 s
    webhooks.webhook_endpoint_create(url=f"{drip.base}/hooks", event_types=["call.created"])
    worker = start_worker(process_logs, **FAST, CALL_WEBHOOK_MAX_ATTEMPTS="3")
    try:
        actions.call_invite(user=alice, invitees=["bob"])
        wait_until(
            lambda: drip.most_in_flight > 1 or WebhookMessage.objects.filter(status=OutboxStatus.FAILED).exists(),
            "three attempts",
            timeout=60,
        )
    finally:
        worker.stop()
    assert drip.most_in_flight == 1  # a second send of the message never starts while the first runs
    attempts = list(WebhookAttempt.objects.order_by("number"))
    assert [a.number for a in attempts] == [1, 2, 3]
    assert all(a.status_code is None and "deadline" in a.error and a.duration_ms < 4000 for a in attempts), [
        (a.error, a.duration_ms) for a in attempts
    ]
    assert len(drip.requests) == 3
