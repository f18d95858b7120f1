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


def notify(
    user: User, *, title: str, body: str = "", url: str = "", kind: str = "", email: bool = True
):
    """Tell a user something in the app, and by email once the caller's transaction commits.

    The in-app row commits with the change that caused it; the email goes after commit so a
    rolled-back change never emails. `url` is a path inside the app.
    """
    from django.conf import settings
    from django.core.mail import send_mail

    from tsunagari.core.models import Notification

    if url and not url.startswith("/"):
        raise CoreError("A notification links inside the app only")
    note = Notification.objects.create(
        user=user, title=title[:200], body=body, url=url[:500], kind=kind[:40]
    )
    if email and user.email and user.is_active:
        # The app's address when the installation sets one; the path alone otherwise.
        base = getattr(settings, "TSUNAGARI_BASE_URL", "") or ""
        link = f"{base.rstrip('/')}{url}" if url else ""
        text = "\n\n".join(part for part in (body, link) if part)
        transaction.on_commit(
            lambda: send_mail(title, text, None, [user.email], fail_silently=False)
        )
    return note


def notifications_mark_read(*, user: User, ids: list[int] | None = None) -> int:
    """Mark some (or all) of a user's unread notifications read; how many changed."""
    from django.utils import timezone

    from tsunagari.core.models import Notification

    unread = Notification.objects.filter(user=user, read_at__isnull=True)
    if ids is not None:
        unread = unread.filter(pk__in=ids)
    return unread.update(read_at=timezone.now())
