"""Request types of views behind a sign-in check: what the check guarantees, told to mypy.

Views take these in place of HttpRequest; nothing changes at run time."""

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest


class SignedInRequest(HttpRequest):
    """A request past login_required or the admin's staff check: `user` is a User, never anonymous."""

    user: User


class ApiRequest(HttpRequest):
    """A request of the HTTP API past api_auth: ninja sets `auth` to the user it returned."""

    auth: User


def signed_in_user(request: HttpRequest) -> User:
    """The user of a request past a sign-in check, where the view's signature cannot say
    so (admin actions and views take an HttpRequest); refused if the check was skipped."""
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied
    return user
