"""Operators: apps (PROTOCOL "Apps"). The server secret is shown once, when the app
is made or its secret rotated; origins are edited one per line. Writes go through
accounts/app_actions.py. Imported by InvitationsConfig.ready()."""

from __future__ import annotations

import weakref
from datetime import timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from invitations.accounts import app_actions
from invitations.models import App

SECRET_TEMPLATE = "admin/invitations/app_secret.html"


class AppForm(forms.ModelForm):
    origins = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        label=gettext_lazy("Origins"),
        help_text=gettext_lazy(
            "One per line, scheme://host[:port] (e.g. https://app.example): its pages may call the API "
            "cross-origin and open sockets that send the token as their first frame."
        ),
    )

    class Meta:
        model = App
        fields = ["name", "enabled"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["origins"].initial = "\n".join(
                self.instance.origins.order_by("origin").values_list("origin", flat=True)
            )

    def clean_origins(self) -> list[str]:
        lines = [line.strip() for line in self.cleaned_data["origins"].splitlines() if line.strip()]
        try:
            return app_actions.origins_normalized(lines)
        except app_actions.AppInputError as exc:
            raise forms.ValidationError(str(exc)) from None


def _secrets_page(request: HttpRequest, pairs: list[tuple[App, str]], *, grace_hours: float | None) -> HttpResponse:
    grace_until = timezone.now() + timedelta(hours=grace_hours) if grace_hours else None
    return TemplateResponse(
        request,
        SECRET_TEMPLATE,
        {
            "secrets": pairs,
            "grace_until": grace_until,
            "rotated": grace_hours is not None,
            "title": _("App server secret"),
            "back_url": reverse("admin:invitations_app_changelist"),
        },
    )


@admin.action(
    description=gettext_lazy("Rotate the server secret (the old one is accepted for a grace period)"),
    permissions=["change"],
)
def rotate_secret(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> HttpResponse:
    grace = settings.APP_SECRET_GRACE_HOURS
    pairs = [(app, app_actions.app_secret_rotate(app_id=app.app_id, grace_hours=grace)) for app in queryset]
    return _secrets_page(request, pairs, grace_hours=grace)


@admin.action(
    description=gettext_lazy("Rotate the server secret now (the old one is refused at once)"), permissions=["change"]
)
def rotate_secret_now(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> HttpResponse:
    pairs = [(app, app_actions.app_secret_rotate(app_id=app.app_id, grace_hours=0)) for app in queryset]
    return _secrets_page(request, pairs, grace_hours=0)


# A new app's secret, from save_model to response_add of the same request: shown once on
# the page that answers it, never stored elsewhere.
made_secrets: weakref.WeakKeyDictionary[HttpRequest, tuple[App, str]] = weakref.WeakKeyDictionary()


@admin.register(App)
class AppAdmin(admin.ModelAdmin):
    form = AppForm
    list_display = ["app_id", "name", "enabled", "origin_list", "created_at"]
    list_filter = ["enabled"]
    search_fields = ["app_id", "name", "origins__origin"]
    readonly_fields = ["app_id", "secret_info", "created_at"]
    actions = [rotate_secret, rotate_secret_now]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        made = ["app_id", "secret_info", "created_at"] if obj is not None and obj.pk else ["secret_info"]
        return ["name", "enabled", "origins", *made]

    @admin.display(description=gettext_lazy("origins"))
    def origin_list(self, obj: App) -> str:
        return ", ".join(o.origin for o in obj.origins.all()) or _("none")

    @admin.display(description=gettext_lazy("server secret"))
    def secret_info(self, obj: App) -> str:
        if not obj.pk:
            return _("Made when you save, and shown once.")
        expires = obj.previous_secret_expires_at
        if obj.previous_server_secret and expires and expires > timezone.now():
            return _("Rotated: tokens signed with the previous secret are accepted until %(until)s UTC.") % {
                "until": f"{expires:%Y-%m-%d %H:%M}"
            }
        return _("Set (shown only when made; use a rotate action for a new one).")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).prefetch_related("origins")

    def save_model(self, request: HttpRequest, obj: App, form: forms.ModelForm, change: bool) -> None:
        data = form.cleaned_data
        if change:
            obj.save(update_fields=["name", "enabled"])
            app_actions.app_origins_set(app=obj, origins=data["origins"])
            return
        app, secret = app_actions.app_create(name=data["name"], origins=data["origins"], enabled=data["enabled"])
        obj.pk = app.pk
        obj._state.adding = False
        made_secrets[request] = (app, secret)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        pass  # the origins were saved by save_model

    def response_add(self, request: HttpRequest, obj: App, post_url_continue: str | None = None) -> HttpResponse:
        made = made_secrets.pop(request, None)
        if made is None:
            return super().response_add(request, obj, post_url_continue)
        messages.success(request, _("App %(app)s made.") % {"app": made[0]})
        return _secrets_page(request, [made], grace_hours=None)
