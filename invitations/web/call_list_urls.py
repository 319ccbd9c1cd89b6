"""The invitation-list pages (/calls/)."""

from django.urls import path

from invitations.web import call_list

urlpatterns = [
    path("", call_list.call_list, name="call-list"),
    path("<str:call_id>/", call_list.call_detail, name="call-detail"),
]
