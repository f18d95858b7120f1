"""Visitors, the append-only touchpoint stream, tracked sites, IP ranges and consumer cursors."""

from __future__ import annotations

import secrets

from django.db import models
from django.utils.translation import gettext_lazy as _

from tsunagari.crm.models import Account, Contact
from tsunagari.tracking.vocabulary import Channel


def new_identify_secret() -> str:
    return secrets.token_hex(32)


class TrackedSite(models.Model):
    """A website allowed to send to the collect endpoint, identified by its exact origin."""

    class ConsentMode(models.TextChoices):
        ALWAYS = "always", _("Record with a cookie (consent handled by the site)")
        COOKIELESS = "cookieless", _("Record without a cookie until consent is given")
        OPT_IN = "opt_in", _("Record nothing until consent is given")

    name = models.CharField(_("name"), max_length=100)
    origin = models.CharField(_("origin"), max_length=255, unique=True)  # https://www.example.co.jp
    consent_mode = models.CharField(
        _("consent mode"), max_length=12, choices=ConsentMode.choices, default=ConsentMode.ALWAYS
    )
    honour_dnt = models.BooleanField(_("honour Do Not Track"), default=True)
    record_bots = models.BooleanField(_("record bots and crawlers"), default=False)
    is_active = models.BooleanField(_("active"), default=True)
    # Shared with the site's server, which signs `identify` calls with it (docs/tracking.md).
    identify_secret = models.CharField(max_length=64, default=new_identify_secret)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.origin


class Visitor(models.Model):
    """A browser, known by a random 128-bit id in a first-party cookie; later, maybe a contact."""

    uid = models.CharField(max_length=32, unique=True)  # 32 hex chars, from secrets
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="visitors"
    )
    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.SET_NULL, related_name="visitors"
    )
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    identified_at = models.DateTimeField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    is_bot = models.BooleanField(default=False)

    # No index on last_seen: every page view moves it, and an indexed column would make each
    # of those updates rewrite the row's index entries instead of a same-page (HOT) update on
    # PostgreSQL. The account page counts an account's visitors through the account FK's index.


class Touchpoint(models.Model):
    """One touch, append-only. The id is the stream position consumers read in order."""

    contact = models.ForeignKey(
        Contact,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="touchpoints",
        db_index=False,
    )
    visitor = models.ForeignKey(
        Visitor,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="touchpoints",
        db_index=False,
    )
    account = models.ForeignKey(
        Account,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="touchpoints",
        db_index=False,
    )
    type = models.CharField(max_length=40)
    channel = models.CharField(max_length=12, choices=Channel.choices)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField()
    source = models.CharField(max_length=100, blank=True)  # site origin, import file, user…
    campaign = models.CharField(max_length=100, blank=True)
    url = models.CharField(max_length=2000, blank=True)
    path = models.CharField(max_length=1000, blank=True)
    title = models.CharField(max_length=300, blank=True)
    referrer = models.CharField(max_length=2000, blank=True)
    utm_source = models.CharField(max_length=100, blank=True)
    utm_medium = models.CharField(max_length=100, blank=True)
    utm_campaign = models.CharField(max_length=100, blank=True)
    utm_term = models.CharField(max_length=100, blank=True)
    utm_content = models.CharField(max_length=100, blank=True)
    content_asset = models.CharField(max_length=100, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    is_bot = models.BooleanField(default=False)
    properties = models.JSONField(default=dict, blank=True)
    recorded_by = models.ForeignKey(
        "core.User",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )

    class Meta:
        indexes = [
            # Timelines, scoring and segment behaviour conditions: a contact's touches by time.
            models.Index(fields=["contact", "-occurred_at"], name="tp_contact_time"),
            # "page views in the last 30 days" across contacts: segments and analytics.
            models.Index(fields=["type", "-occurred_at"], name="tp_type_time"),
            # The account timeline and ABM activity.
            models.Index(fields=["account", "-occurred_at"], name="tp_account_time"),
            # Attaching a visitor's history on identification.
            models.Index(fields=["visitor", "-occurred_at"], name="tp_visitor_time"),
        ]

    def save(self, *args, **kwargs) -> None:
        # One writer keeps the stream ordered for consumers: tracking.services.touchpoints_append.
        raise TypeError("Touchpoints are appended with tracking.services.touchpoints_append")


class CustomTouchpointType(models.Model):
    """A user-defined type beside the built-in vocabulary (e.g. 'webinar_replay')."""

    key = models.SlugField(_("key"), max_length=40, unique=True)
    label = models.CharField(_("label"), max_length=100)
    channel = models.CharField(_("channel"), max_length=12, choices=Channel.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.label


class IpRange(models.Model):
    """An IP range known to belong to a company: anonymous visits from it count on the account."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="ip_ranges")
    cidr = models.CharField(max_length=50)
    # Integer bounds of the range (IPv4 and IPv6 as decimal strings sort wrongly; we keep
    # numeric bounds as 39-digit zero-padded text so both databases compare them the same).
    start = models.CharField(max_length=39, db_index=True)
    end = models.CharField(max_length=39)

    def __str__(self) -> str:
        return self.cidr


class ConsumerCursor(models.Model):
    """How far one consumer (scoring, segments, journeys…) has read the touchpoint stream."""

    name = models.CharField(max_length=60, unique=True)
    position = models.BigIntegerField(default=0)  # the last Touchpoint.id processed
    updated_at = models.DateTimeField(auto_now=True)
