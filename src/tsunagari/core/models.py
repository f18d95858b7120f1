"""Staff users, their roles and teams, notifications, and snapshots of costly figures."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _

from tsunagari.core.roles import Role, role_can


class User(AbstractUser):
    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.READ_ONLY)
    display_name = models.CharField(_("display name"), max_length=100, blank=True)

    class Meta:
        ordering = ["username"]

    def __str__(self) -> str:
        return self.display_name or self.get_full_name() or self.username

    def can(self, capability: str) -> bool:
        if not self.is_active:
            return False
        if self.is_superuser:
            return True
        return role_can(self.role, capability)


class Team(models.Model):
    class Kind(models.TextChoices):
        MARKETING = "marketing", _("Marketing")
        INSIDE_SALES = "inside_sales", _("Inside sales")
        FIELD_SALES = "field_sales", _("Field sales")

    name = models.CharField(_("name"), max_length=100, unique=True)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    members = models.ManyToManyField(User, related_name="teams", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Notification(models.Model):
    """An in-app message to one user (a lead assigned, a deadline passed); also sent by email."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=40, blank=True)  # e.g. "scoring.handoff"
    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("message"), blank=True)
    url = models.CharField(max_length=500, blank=True)  # a path inside the app, never external
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The unread count in the top bar and the user's list, newest first.
            models.Index(fields=["user", "read_at", "-created_at"], name="core_notification_user")
        ]

    def __str__(self) -> str:
        return self.title


class Snapshot(models.Model):
    """Figures too costly to compute on every page view, kept with the time they were taken.

    The dashboard's counts over a million contacts are one row here, refreshed by the worker
    (core/dashboard.py); `computed_at` doubles as the claim, so two workers never both compute.
    """

    key = models.CharField(max_length=100, unique=True)
    data = models.JSONField(default=dict)
    computed_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.key
