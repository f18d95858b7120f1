"""Scores and grades of contacts (the rest of scoring's models join here)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from tsunagari.crm.models import Contact


class ContactScore(models.Model):
    """A contact's current scores: what segments, lists and journeys read.

    `behaviour` is the sum of the contact's live ledger rows, `fit` the profile score and
    `grade` the profile grade (A–D, "" when no fit rule applies). A contact without a row has
    behaviour 0, fit 0 and no grade.
    """

    contact = models.OneToOneField(
        Contact, primary_key=True, on_delete=models.CASCADE, related_name="score"
    )
    behaviour = models.IntegerField(_("behaviour score"), default=0)
    fit = models.IntegerField(_("fit score"), default=0)
    grade = models.CharField(_("grade"), max_length=1, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["behaviour"], name="scoring_behaviour"),
            models.Index(fields=["grade", "behaviour"], name="scoring_grade"),
        ]

    def __str__(self) -> str:
        return f"{self.contact_id}: {self.behaviour} / {self.grade or '-'}"
