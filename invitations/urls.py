from django.contrib.auth import views as auth_views
from django.urls import path

from invitations import views

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", views.SignOutView.as_view(), name="logout"),
    path("", views.call_page, name="call-page"),
    path("sw.js", views.service_worker, name="service-worker"),
    path("favicon.ico", views.favicon, name="favicon"),
]
