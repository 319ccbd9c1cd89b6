from django.contrib import admin
from django.contrib.auth.decorators import user_passes_test
from django.contrib.auth.models import AnonymousUser, User
from django.urls import URLPattern, URLResolver, include, path

from invitations.web.api import api
from invitations.web.i18n import javascript_catalog, json_catalog


def may_manage_jobs(user: User | AnonymousUser) -> bool:
    """The job dashboard can delete deadline jobs: superusers and staff granted
    django_rq's `admin` permission ("Access admin page"), not every staff user."""
    return user.is_active and user.is_staff and (user.is_superuser or user.has_perm("django_rq.admin"))


def _jobs_urls() -> tuple[list[URLPattern | URLResolver], str]:
    import django_rq.urls

    guard = user_passes_test(may_manage_jobs, login_url="admin:login")
    patterns: list[URLPattern | URLResolver] = [
        *django_rq.urls.get_api_urlpatterns(),
        *django_rq.urls.get_admin_urlpatterns(view_wrapper=guard),
    ]
    return patterns, django_rq.urls.app_name


urlpatterns = [
    path("admin/rq/", include(_jobs_urls())),
    path("admin/", admin.site.urls),
    path("api/i18n/<str:language>/", json_catalog, name="json-catalog"),
    path("api/", api.urls),
    path("jsi18n/", javascript_catalog, name="javascript-catalog"),
    path("jsi18n/<str:language>/", javascript_catalog, name="javascript-catalog-for"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("calls/", include("invitations.web.call_list_urls")),
    path("", include("invitations.web.urls")),
]
