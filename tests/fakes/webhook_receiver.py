"""A webhook receiver run by the test: every request is verified with the
`standardwebhooks` package (the reference implementation of the scheme),
independently of the site's own signing code."""

from __future__ import annotations

from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError

from tests.fakes.recording_server import Recorded, RecordingServer


class WebhookReceiver(RecordingServer):
    def __init__(self, default_status: int = 200) -> None:
        super().__init__(default_status=default_status)
        self.secret: str | None = None

    @property
    def url(self) -> str:
        return f"{self.base}/hooks"

    def verify(self, request: Recorded, secret: str | None = None) -> dict[str, Any]:
        """The payload, if the request carries a valid signature for the secret; else WebhookVerificationError."""
        return Webhook(secret or self.secret).verify(request.body, request.headers)

    def verified(self, secret: str | None = None) -> list[tuple[str, dict[str, Any]]]:
        """(webhook-id, payload) of every request so far, in arrival order; fails on any bad signature."""
        out = []
        for request in list(self.requests):
            try:
                out.append((request.headers["webhook-id"], self.verify(request, secret)))
            except WebhookVerificationError as exc:
                raise AssertionError(f"bad webhook {request.headers}: {exc}") from exc
        return out

    def delivered(self, secret: str | None = None) -> dict[str, dict[str, Any]]:
        """Payload by webhook-id, for the requests answered 2xx (each message counted once)."""
        ok = {}
        for request in list(self.requests):
            if 200 <= request.status < 300:
                ok[request.headers["webhook-id"]] = self.verify(request, secret)
        return ok
