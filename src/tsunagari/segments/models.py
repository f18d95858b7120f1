"""Segments and their members.

A dynamic segment has a filter (`definition`, the JSON tree of docs/segments.md) and its
members are materialised; a static list has members added and removed by hand, CSV, API or a
journey. Both keep membership history: a row per stay, `exited_at` set when the contact leaves.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from tsunagari.crm.models import Contact


class Segment(models.Model):
    class Kind(models.TextChoices):
        DYNAMIC = "dynamic", _("Dynamic segment")
        STATIC = "static", _("Static list")

    name = models.CharField(_("name"), max_length=120)
    description = models.CharField(_("description"), max_length=500, blank=True)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.DYNAMIC)
    definition = models.JSONField(_("filter"), default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    refreshed_at = models.DateTimeField(null=True, blank=True, editable=False)
    member_count = models.PositiveIntegerField(default=0, editable=False)
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Incremental refresh: contacts changed after this instant have not been re-evaluated yet.
    changes_seen_at = models.DateTimeField(null=True, blank=True, editable=False)
    # A worker claims a scheduled full refresh with a compare-and-set on this lease.
    refresh_lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    refresh_seconds = models.FloatField(null=True, blank=True, editable=False)
    refresh_error = models.CharField(max_length=300, blank=True, editable=False)

    class Meta:
        ordering = ["name", "id"]
        indexes = [
            # The scheduled refresh picks live dynamic segments refreshed longest ago.
            models.Index(
                fields=["kind", "refreshed_at"],
                condition=Q(deleted_at__isnull=True),
                name="segments_due",
            )
        ]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """One stay of a contact in a segment: current while `exited_at` is empty.

    A refresh writes hundreds of thousands of these rows in one `INSERT … SELECT`, so the table
    carries only the indexes its queries use and no foreign-key constraints in the database:
    on PostgreSQL each would fire a trigger per row at commit (`SELECT … FOR KEY SHARE` of the
    contact, which also dirties the contact's page), about half the time of the insert. The
    references hold by construction: rows are only written from `SELECT`s of existing
    contacts with the segment row locked, deletions cascade through Django (`on_delete`), and a
    stay whose contact is gone no longer matches, so the next refresh closes it.
    """

    # Indexed by `segments_entered` (segment first): no index of its own.
    segment = models.ForeignKey(
        Segment,
        on_delete=models.CASCADE,
        related_name="memberships",
        db_index=False,
        db_constraint=False,
    )
    # Its index serves a contact's stays and the cascade when a contact is deleted.
    contact = models.ForeignKey(
        Contact, on_delete=models.CASCADE, related_name="memberships", db_constraint=False
    )
    entered_at = models.DateTimeField()
    exited_at = models.DateTimeField(null=True, blank=True)
    # Who or what put a contact in a static list: "manual", "csv:<file>", "api", "journey:<id>";
    # "refresh" for dynamic segments.
    source = models.CharField(max_length=100, blank=True, default="")

    class Meta:
        constraints = [
            # At most one current stay per contact and segment; also the index of "the current
            # members of segment S" (counts, refreshes, `in_segment` of a static list).
            models.UniqueConstraint(
                fields=["segment", "contact"],
                condition=Q(exited_at__isnull=True),
                name="segments_one_current_stay",
            )
        ]
        indexes = [
            # The latest entries of a segment; its leading column indexes the segment FK.
            models.Index(fields=["segment", "-entered_at"], name="segments_entered"),
            # The stays a refresh has just closed (hooks) and exits over time (growth).
            models.Index(
                fields=["segment", "exited_at"],
                condition=Q(exited_at__isnull=False),
                name="segments_exited",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.segment_id}:{self.contact_id}"


class SegmentSize(models.Model):
    """A segment's size at the end of a day, with the entries and exits of that day (growth)."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="sizes")
    day = models.DateField()
    size = models.PositiveIntegerField(default=0)
    entered = models.PositiveIntegerField(default=0)
    exited = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["segment", "day"]
        constraints = [
            models.UniqueConstraint(fields=["segment", "day"], name="segments_size_per_day")
        ]

    def __str__(self) -> str:
        return f"{self.segment_id}@{self.day}: {self.size}"
