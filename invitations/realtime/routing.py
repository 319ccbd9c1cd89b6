from django.urls import path

from invitations.realtime.consumer import CallConsumer

websocket_urlpatterns = [path("ws/calls/", CallConsumer.as_asgi())]
