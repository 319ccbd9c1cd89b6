"""The invitation-list pages (/calls/)."""
from django.urls import path

from invitations import call_list_views

urlpatterns = [
    path("", call_list_views.call_list, name="call-list"),
    path("<str:call_id>/", call_list_views.call_detail, name="call-detail"),
]
