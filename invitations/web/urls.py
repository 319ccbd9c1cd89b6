from django.contrib.auth import views as auth_views
from django.urls import path

from invitations.web import install, pages

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", pages.SignOutView.as_view(), name="logout"),
    path("", pages.call_page, name="call-page"),
    path("sw.js", pages.service_worker, name="service-worker"),
    path("favicon.ico", pages.favicon, name="favicon"),
    path("manifest.webmanifest", install.manifest, name="manifest"),
    path("offline/", install.offline_page, name="offline"),
]
