"""Operators: find a call, read its whole story, end it.

Read-only everywhere: call state is written only by invitations/calls/actions/, so nothing
here can put a call in an impossible state. Ending a call (the action and the
button on the call's page) goes through actions.call_end_by_operator, which
logs the operator and pushes callInvitationEnded to the members live. Only
staff with `invitations.end_call` may end calls.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypedDict

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from invitations.accounts import token_actions
from invitations.accounts.requests import signed_in_user
from invitations.accounts.tenancy import tenant_of, user_id_of
from invitations.calls import actions, groups
from invitations.calls.errors import CallError
from invitations.calls.selectors import members_prefetch
from invitations.calls.states import CallState, state_label
from invitations.models import (
    ApiToken,
    Call,
    CallEvent,
    CallUser,
    Connection,
    Group,
    ServerProcess,
)

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

END_CALL_PERMISSION = "invitations.end_call"


def _label(state: int | None) -> str:
    return state_label(state) or "-"


class ReadOnlyMixin:
    """No add, no change, no delete: a view of what the services wrote."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class CallInlineMixin(ReadOnlyMixin):
    extra = 0
    max_num: int | None = 0
    can_delete = False
    show_change_link = False

    # Whoever may view the call may view its members and events.
    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("invitations.view_call")


class CallUserInline(CallInlineMixin, admin.TabularInline):
    model = CallUser
    verbose_name = gettext_lazy("member")
    fields = readonly_fields = (
        "user",
        "member_state",
        "reason",
        "inviter",
        "device_id",
        "invited_at",
        "deadline",
        "accepted_at",
        "responded_at",
        "quit_at",
        "extended_data",
    )

    # "call" too: each row's title is str(row), which names its call
    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("call", "user", "inviter").order_by("pk")

    @admin.display(description=gettext_lazy("state"))
    def member_state(self, obj: CallUser) -> str:
        return f"{_label(obj.state)} ({obj.state})"


class CallEventInline(CallInlineMixin, admin.TabularInline):
    model = CallEvent
    verbose_name = gettext_lazy("event")
    fields = readonly_fields = (
        "seq",
        "created_at",
        "kind",
        "user",
        "change",
        "reason",
        "actor",
        "device_id",
        "extended_data",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("call", "user", "actor").order_by("seq", "pk")

    @admin.display(description=gettext_lazy("state change"))
    def change(self, obj: CallEvent) -> str:
        if obj.kind == "call_ended":
            return _("call ended")
        return f"{_label(obj.from_state)} → {_label(obj.to_state)}"


@admin.action(description=gettext_lazy("End selected calls"), permissions=["end_call"])
def end_selected_calls(modeladmin: CallAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    started = list(queryset.filter(state=CallState.STARTED).values_list("call_id", flat=True))
    ended, skipped = 0, queryset.count() - len(started)
    for call_id in started:
        try:
            actions.call_end_by_operator(operator=signed_in_user(request), call_id=call_id)
            ended += 1
        except CallError:  # ended meanwhile by its members or a deadline
            skipped += 1
    modeladmin.message_user(
        request,
        _("Ended %(count)s call(s).") % {"count": ended}
        + (" " + _("%(count)s had already ended.") % {"count": skipped} if skipped else ""),
        messages.SUCCESS if ended else messages.WARNING,
    )


@admin.register(Call)
class CallAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("call_id", "caller", "mode", "state", "member_list", "created_at", "ended_at")
    list_filter = ("state", "mode", "group", ("created_at", admin.DateFieldListFilter))
    search_fields = ("call_id", "caller__username", "members__user__username")
    list_select_related = ("caller",)
    date_hierarchy = "created_at"
    ordering = ("-pk",)
    actions = [end_selected_calls]
    inlines = [CallUserInline, CallEventInline]
    fields = readonly_fields = (
        "call_id",
        "caller",
        "mode",
        "state",
        "seq",
        "created_at",
        "ended_at",
        "ended_by",
        "extended_data",
        "push_config",
        "watch_caller_presence",
        "group",
    )
    change_form_template = "admin/invitations/call/change_form.html"
    change_list_template = "admin/invitations/call/change_list.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # one query for every row's members, however many rows
        return super().get_queryset(request).prefetch_related(members_prefetch())

    @admin.display(description=gettext_lazy("members"))
    def member_list(self, obj: Call) -> str:
        return ", ".join(f"{m.user.username} ({_label(m.state)})" for m in obj.members.all())

    def has_end_call_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(END_CALL_PERMISSION)

    def get_urls(self) -> list:
        return [
            path("<path:object_id>/end/", self.admin_site.admin_view(self.end_call_view), name="invitations_call_end"),
        ] + super().get_urls()

    def end_call_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return require_POST(self._end_call)(request, object_id)

    def _end_call(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not self.has_end_call_permission(request):
            raise PermissionDenied
        call = get_object_or_404(Call, pk=object_id)
        try:
            actions.call_end_by_operator(operator=signed_in_user(request), call_id=call.call_id)
            self.message_user(request, _("Call %(call_id)s ended.") % {"call_id": call.call_id}, messages.SUCCESS)
        except CallError as exc:
            text = _("Call %(call_id)s was not ended: %(error)s") % {"call_id": call.call_id, "error": exc.message}
            self.message_user(request, text, messages.WARNING)
        return HttpResponseRedirect(reverse("admin:invitations_call_change", args=[call.pk]))

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        extra_context = dict(extra_context or {})
        extra_context["can_end_call"] = self.has_end_call_permission(request)
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(Connection)
class ConnectionAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Presence: one row per open WebSocket."""

    list_display = ("user", "device_id", "connected_at", "server", "channel_name")
    list_select_related = ("user", "server")
    search_fields = ("user__username", "device_id")
    list_filter = (("connected_at", admin.DateFieldListFilter),)
    ordering = ("user__username", "connected_at")


@admin.register(ServerProcess)
class ServerProcessAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("server_id", "host", "pid", "started_at", "last_seen")
    ordering = ("-last_seen",)


# --- API tokens: listed, and revocable by staff with invitations.revoke_apitoken ---


@admin.action(description=gettext_lazy("Revoke selected tokens"), permissions=["revoke"])
def revoke_selected_tokens(modeladmin: ApiTokenAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    revoked = token_actions.api_tokens_revoke(token_ids=queryset.values_list("pk", flat=True))
    text = _("%(count)s token(s) revoked.") % {"count": revoked}
    modeladmin.message_user(request, text, messages.SUCCESS)


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Bearer tokens: who, when made, last used, when they expire; never the token."""

    list_display = ("pk", "user", "created_at", "last_used_at", "expires_at", "revoked")
    list_filter = ("revoked", ("expires_at", admin.DateFieldListFilter))
    search_fields = ("user__username",)
    list_select_related = ("user",)
    ordering = ("-pk",)
    actions = [revoke_selected_tokens]
    fields = readonly_fields = ("user", "created_at", "last_used_at", "expires_at", "revoked")

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("invitations.revoke_apitoken")


# --- groups ---------------------------------------------------------------------------------------


class MemberCount(TypedDict):
    n_members: int


class GroupAdminForm(forms.ModelForm):
    class Meta:
        model = Group
        fields = ("group_id", "app", "name", "members")
        help_texts = {"app": gettext_lazy("The app whose users it groups; none: the site's own accounts.")}

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        app = data["app"] if "app" in data else (self.instance.app if self.instance.pk else None)
        tenant = app.app_id if app is not None else None
        others = [u for u in data.get("members") or () if tenant_of(u) != tenant]
        if others:  # a group never crosses tenants
            names = ", ".join(u.username for u in others)
            if tenant is None:
                raise forms.ValidationError(_("not users of the site's own accounts: %(names)s") % {"names": names})
            raise forms.ValidationError(_("not users of app %(app)s: %(names)s") % {"app": tenant, "names": names})
        return data


@admin.register(Group)
class GroupAdmin(admin.ModelAdmin):
    """Operators make groups and pick their members (an autocomplete over the users)."""

    form = GroupAdminForm
    list_display = ("group_id", "app", "name", "member_count")
    list_filter = ("app",)
    search_fields = ("group_id", "name", "members__username")
    autocomplete_fields = ("members",)
    fields = ("group_id", "app", "name", "members")
    ordering = ("group_id",)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(n_members=Count("members", distinct=True))

    def get_readonly_fields(self, request: HttpRequest, obj: Group | None = None) -> tuple[str, ...]:
        # clients call and join by groupID: renaming one (or moving it to another tenant)
        # would orphan their references
        return ("group_id", "app") if obj is not None else ()

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "members":  # group_save refuses inactive users: do not offer them
            kwargs["queryset"] = get_user_model().objects.filter(is_active=True)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: Group, form: Any, change: bool) -> None:
        # groups.group_save is the only writer of groups and their members
        members = form.cleaned_data.get("members")
        saved = groups.group_save(
            group_id=obj.group_id,
            name=obj.name,
            member_user_ids=[user_id_of(u) for u in members] if members is not None else None,
            app_id=obj.app_id,
        )
        obj.pk = saved.pk

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        for formset in formsets:  # the members were set by group_save, not form.save_m2m()
            self.save_formset(request, form, formset, change=change)

    @admin.display(description=gettext_lazy("members"), ordering="n_members")
    def member_count(self, obj: WithAnnotations[Group, MemberCount]) -> int:
        return obj.n_members
