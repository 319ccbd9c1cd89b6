"""The answers about users and accounts: the people to call, the site's own bearer tokens."""

from __future__ import annotations

from typing import Any

from typing_extensions import TypedDict

from invitations.accounts.tenancy import display_name, user_id_of


class UserEntry(TypedDict):
    userID: str
    name: str
    online: bool


class Users(TypedDict):
    users: list[UserEntry]


def user_entry(user: Any, *, online: bool) -> UserEntry:
    return UserEntry(userID=user_id_of(user), name=display_name(user), online=online)


class TokenAnswer(TypedDict):
    token: str
    userID: str


class RevokeAnswer(TypedDict):
    revoked: bool


def token_answer(token: str, user: Any) -> TokenAnswer:
    return TokenAnswer(token=token, userID=user_id_of(user))
