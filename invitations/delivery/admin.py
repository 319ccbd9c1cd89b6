"""Operators: webhook endpoints (secret shown once, rotation with a grace
period), webhook messages and every attempt (with a resend action), and the
push outbox. Writes go through services; messages and attempts are read-only.
Imported by admin.py."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from weakref import WeakKeyDictionary

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.validators import URLValidator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from invitations.calls.errors import CallError
from invitations.delivery import webhooks
from invitations.delivery.webhooks import EVENT_TYPES, webhook_url_check
from invitations.models import (
    PushMessage,
    PushSubscription,
    WebhookAttempt,
    WebhookEndpoint,
    WebhookMessage,
)

SECRET_TEMPLATE = "admin/invitations/webhook_secret.html"


class _ViewOnly:
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(max_length=2000, assume_scheme="https", validators=[URLValidator(schemes=["http", "https"])])
    event_types = forms.MultipleChoiceField(
        choices=[(t, t) for t in EVENT_TYPES],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=gettext_lazy("None ticked: every type."),
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "app", "description", "event_types", "enabled"]
        help_texts = {
            "app": gettext_lazy("Whose calls it receives: that app's only; none: the site's own accounts' calls.")
        }

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        try:
            webhook_url_check(url)  # internal addresses: the service's rule, shown on the form
        except CallError as exc:
            raise forms.ValidationError(exc.message) from None
        return url


# A new endpoint's secret, from save_model to response_add of the same request: shown
# once, never stored elsewhere (gone with the request if nothing shows it).
_made_secrets: WeakKeyDictionary[HttpRequest, tuple[WebhookEndpoint, str]] = WeakKeyDictionary()


def _secrets_page(request: HttpRequest, pairs: list[tuple[WebhookEndpoint, str]], *, rotated: bool) -> HttpResponse:
    grace = timezone.now() + timedelta(hours=settings.CALL_WEBHOOK_SECRET_GRACE_HOURS)
    return TemplateResponse(
        request,
        SECRET_TEMPLATE,
        {
            "secrets": pairs,
            "rotated": rotated,
            "grace_until": grace,
            "title": _("Webhook signing secret"),
            "back_url": reverse("admin:invitations_webhookendpoint_changelist"),
        },
    )


@admin.action(
    description=gettext_lazy("Rotate the signing secret (the old one signs too for a grace period)"),
    permissions=["change"],
)
def rotate_secret(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> HttpResponse:
    pairs = [(endpoint, webhooks.webhook_endpoint_rotate_secret(endpoint_pk=endpoint.pk)) for endpoint in queryset]
    return _secrets_page(request, pairs, rotated=True)


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ["url", "app", "enabled", "types", "created_at", "disabled_reason", "messages_link"]
    list_filter = ["enabled", "app"]
    readonly_fields = ["secret_info", "disabled_reason", "created_at"]
    actions = [rotate_secret]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # the tenant is chosen when the endpoint is made (its messages so far are that tenant's)
        return [*self.readonly_fields, "app"] if obj is not None and obj.pk else list(self.readonly_fields)

    @admin.display(description=gettext_lazy("event types"))
    def types(self, obj: WebhookEndpoint) -> str:
        return ", ".join(obj.event_types) or _("all")

    @admin.display(description=gettext_lazy("signing secret"))
    def secret_info(self, obj: WebhookEndpoint) -> str:
        if not obj.pk:
            return _("Made when you save, and shown once.")
        expires = obj.previous_secret_expires_at
        if obj.previous_secret and expires and expires > timezone.now():
            return _("Rotated: the previous secret also signs until %(until)s UTC.") % {
                "until": f"{expires:%Y-%m-%d %H:%M}"
            }
        return _("Set (shown only when made; use the rotate action for a new one).")

    @admin.display(description=gettext_lazy("messages"))
    def messages_link(self, obj: WebhookEndpoint) -> str:
        url = reverse("admin:invitations_webhookmessage_changelist") + f"?endpoint__id__exact={obj.pk}"
        return format_html('<a href="{}">{}</a>', url, _("deliveries"))

    def save_model(self, request: HttpRequest, obj: WebhookEndpoint, form: forms.ModelForm, change: bool) -> None:
        data = form.cleaned_data
        try:
            if change:
                webhooks.webhook_endpoint_update(
                    endpoint=obj,
                    url=data["url"],
                    event_types=data["event_types"],
                    description=data["description"],
                    enabled=data["enabled"],
                )
                return
            app = data.get("app")
            endpoint, secret = webhooks.webhook_endpoint_create(
                url=data["url"],
                event_types=data["event_types"],
                description=data["description"],
                app_id=app.app_id if app is not None else None,
            )
        except CallError as exc:  # the form validated the URL already; this is the service's word
            messages.error(request, exc.message)
            return
        if not data["enabled"]:
            webhooks.webhook_endpoint_update(
                endpoint=endpoint,
                url=endpoint.url,
                event_types=endpoint.event_types,
                description=endpoint.description,
                enabled=False,
            )
        obj.pk = endpoint.pk
        obj._state.adding = False
        _made_secrets[request] = (endpoint, secret)

    def response_add(
        self, request: HttpRequest, obj: WebhookEndpoint, post_url_continue: str | None = None
    ) -> HttpResponse:
        made = _made_secrets.pop(request, None)
        if made is None:
            return super().response_add(request, obj, post_url_continue)
        return _secrets_page(request, [made], rotated=False)


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    max_num = 0
    can_delete = False
    fields = readonly_fields = (
        "number",
        "started_at",
        "duration_ms",
        "status_code",
        "succeeded",
        "error",
        "response_excerpt",
    )

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.action(description=gettext_lazy("Resend selected messages (same webhook-id)"), permissions=["resend"])
def resend(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    for message in queryset:
        webhooks.webhook_message_resend(message_pk=message.pk)
    messages.success(request, _("%(count)s message(s) queued for delivery.") % {"count": queryset.count()})


@admin.register(WebhookMessage)
class WebhookMessageAdmin(_ViewOnly, admin.ModelAdmin):
    list_display = [
        "msg_id",
        "endpoint",
        "event_type",
        "call_id",
        "seq",
        "status",
        "attempt_count",
        "last_status",
        "created_at",
        "delivered_at",
    ]
    list_filter = ["status", "event_type", "endpoint"]
    search_fields = ["msg_id", "call_id"]
    date_hierarchy = "created_at"
    fields = readonly_fields = (
        "msg_id",
        "endpoint",
        "event_type",
        "call_id",
        "seq",
        "status",
        "attempt_count",
        "last_status",
        "next_attempt_at",
        "created_at",
        "delivered_at",
        "pretty_body",
    )
    inlines = [WebhookAttemptInline]
    actions = [resend]

    @admin.display(description=gettext_lazy("body"))
    def pretty_body(self, obj: WebhookMessage) -> str:
        return format_html("<pre>{}</pre>", json.dumps(json.loads(obj.body), indent=2))

    def has_resend_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("invitations.change_webhookendpoint")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(WebhookAttempt)
class WebhookAttemptAdmin(_ViewOnly, admin.ModelAdmin):
    list_display = ["message", "number", "started_at", "duration_ms", "status_code", "succeeded", "short_response"]
    list_filter = ["succeeded", "status_code"]
    search_fields = ["message__msg_id", "message__call_id"]

    @admin.display(description=gettext_lazy("response"))
    def short_response(self, obj: WebhookAttempt) -> str:
        return (obj.error or obj.response_excerpt)[:80]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(PushSubscription)
class PushSubscriptionAdmin(_ViewOnly, admin.ModelAdmin):
    """Subscriptions can be removed (the browser then gets no push); they are made by browsers only."""

    list_display = ["user", "device_id", "push_service", "created_at", "last_success_at"]
    search_fields = ["user__username", "device_id"]

    @admin.display(description=gettext_lazy("push service"))
    def push_service(self, obj: PushSubscription) -> str:
        return obj.endpoint.split("/")[2] if "//" in obj.endpoint else obj.endpoint[:40]


@admin.register(PushMessage)
class PushMessageAdmin(_ViewOnly, admin.ModelAdmin):
    list_display = [
        "pk",
        "kind",
        "member",
        "subscription",
        "status",
        "attempt_count",
        "last_status",
        "created_at",
        "delivered_at",
    ]
    list_filter = ["status", "kind"]
    list_select_related = ["member__user", "member__call", "subscription__user"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
