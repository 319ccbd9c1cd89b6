from django.contrib import admin
from django.urls import include, path

from invitations.api import api

urlpatterns = [
    path("admin/rq/", include("django_rq.urls")),
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("calls/", include("invitations.call_list_urls")),
    path("", include("invitations.urls")),
]
