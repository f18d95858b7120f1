"""The fixed vocabulary of touchpoint types and channels (docs/tracking.md lists them)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Channel(models.TextChoices):
    WEB = "web", _("Web")
    EMAIL = "email", _("Email")
    FORM = "form", _("Form")
    EVENT = "event", _("Event / seminar")
    PHONE = "phone", _("Phone")
    VISIT = "visit", _("Visit / meeting")
    TRADE_SHOW = "trade_show", _("Trade show")
    IMPORT = "import", _("Import")
    SYSTEM = "system", _("System")


class Type(models.TextChoices):
    PAGE_VIEW = "page_view", _("Page view")
    PAGE_LEAVE = "page_leave", _("Time on page")
    CUSTOM_EVENT = "custom_event", _("Website event")
    IDENTIFIED = "identified", _("Identified")
    EMAIL_SENT = "email_sent", _("Email sent")
    EMAIL_OPENED = "email_opened", _("Email opened")
    EMAIL_CLICKED = "email_clicked", _("Email link clicked")
    EMAIL_BOUNCED = "email_bounced", _("Email bounced")
    EMAIL_UNSUBSCRIBED = "email_unsubscribed", _("Unsubscribed")
    FORM_SUBMITTED = "form_submitted", _("Form submitted")
    DOWNLOAD = "download", _("Download")
    CALL = "call", _("Call")
    VISIT = "visit", _("Sales visit")
    MEETING = "meeting", _("Meeting")
    TRADE_SHOW_SCAN = "trade_show", _("Trade show visit")
    BUSINESS_CARD = "business_card", _("Business card exchange")
    SEMINAR_REGISTERED = "seminar_registered", _("Seminar registration")
    SEMINAR_ATTENDED = "seminar_attended", _("Seminar attendance")
    SCORE_CHANGED = "score_changed", _("Score changed")
    STAGE_CHANGED = "stage_changed", _("Lifecycle stage changed")
    DEAL_CREATED = "deal_created", _("Deal created")
    DEAL_WON = "deal_won", _("Deal won")
    DEAL_LOST = "deal_lost", _("Deal lost")


# The channel a built-in type belongs to.
TYPE_CHANNEL: dict[str, str] = {
    Type.PAGE_VIEW: Channel.WEB,
    Type.PAGE_LEAVE: Channel.WEB,
    Type.CUSTOM_EVENT: Channel.WEB,
    Type.IDENTIFIED: Channel.WEB,
    Type.EMAIL_SENT: Channel.EMAIL,
    Type.EMAIL_OPENED: Channel.EMAIL,
    Type.EMAIL_CLICKED: Channel.EMAIL,
    Type.EMAIL_BOUNCED: Channel.EMAIL,
    Type.EMAIL_UNSUBSCRIBED: Channel.EMAIL,
    Type.FORM_SUBMITTED: Channel.FORM,
    Type.DOWNLOAD: Channel.WEB,
    Type.CALL: Channel.PHONE,
    Type.VISIT: Channel.VISIT,
    Type.MEETING: Channel.VISIT,
    Type.TRADE_SHOW_SCAN: Channel.TRADE_SHOW,
    Type.BUSINESS_CARD: Channel.TRADE_SHOW,
    Type.SEMINAR_REGISTERED: Channel.EVENT,
    Type.SEMINAR_ATTENDED: Channel.EVENT,
    Type.SCORE_CHANGED: Channel.SYSTEM,
    Type.STAGE_CHANGED: Channel.SYSTEM,
    Type.DEAL_CREATED: Channel.SYSTEM,
    Type.DEAL_WON: Channel.SYSTEM,
    Type.DEAL_LOST: Channel.SYSTEM,
}

# What staff may record by hand on a contact page (offline touches).
OFFLINE_TYPES = (
    Type.CALL,
    Type.VISIT,
    Type.MEETING,
    Type.TRADE_SHOW_SCAN,
    Type.BUSINESS_CARD,
    Type.SEMINAR_ATTENDED,
)

# Touches that are not the contact's own activity: what we sent them, and bookkeeping. They
# leave `last_activity_at` alone — a newsletter every week must not keep a silent contact
# "active", or it would never go cold and return to nurture (and a broadcast would rewrite
# every recipient's contact row).
NOT_ACTIVITY_TYPES = frozenset(
    {
        Type.EMAIL_SENT,
        Type.EMAIL_BOUNCED,
        Type.SCORE_CHANGED,
        Type.STAGE_CHANGED,
        Type.DEAL_CREATED,
        Type.DEAL_WON,
        Type.DEAL_LOST,
    }
)
