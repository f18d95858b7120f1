"""Writes of the core app: staff users and teams."""

from __future__ import annotations

import secrets

from django.db import transaction

from tsunagari.core.models import Team, User
from tsunagari.core.roles import Role


class CoreError(Exception):
    """A request about users or teams that cannot be carried out, with a message for people."""


@transaction.atomic
def user_create(
    *, username: str, password: str, role: str, email: str = "", display_name: str = ""
) -> User:
    if role not in Role.values:
        raise CoreError(f"Unknown role {role!r}")
    if User.objects.filter(username=username).exists():
        raise CoreError(f"A user called {username!r} already exists")
    user = User(username=username, email=email, role=role, display_name=display_name)
    if role == Role.ADMIN:
        user.is_staff = True
    user.set_password(password)
    user.save()
    return user


@transaction.atomic
def user_update(*, user: User, actor: User) -> User:
    """Save edits to a user; refuses to leave the system without an active administrator."""
    leaves_admin = user.pk == actor.pk and (not user.is_active or user.role != Role.ADMIN)
    if leaves_admin:
        others = User.objects.filter(role=Role.ADMIN, is_active=True).exclude(pk=user.pk)
        if not others.exists():
            raise CoreError("You are the last active administrator; keep your role and access.")
    user.is_staff = user.role == Role.ADMIN
    user.save()
    return user


def first_admin_if_none() -> tuple[User, str] | None:
    """Create an administrator with a random password when there is no active one.

    (A demo data set brings staff users but never an administrator who can log in.)
    """
    if User.objects.filter(role=Role.ADMIN, is_active=True).exists():
        return None
    password = secrets.token_urlsafe(12)
    username, n = "admin", 1
    while User.objects.filter(username=username).exists():
        n += 1
        username = f"admin{n}"
    user = user_create(username=username, password=password, role=Role.ADMIN)
    return user, password


@transaction.atomic
def team_save(*, team: Team, members: list[User]) -> Team:
    team.save()
    team.members.set(members)
    return team
