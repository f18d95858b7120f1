"""What recipients do: opens, clicks, unsubscribes, preferences; and the suppression list.

Every event becomes a touchpoint (email_opened, email_clicked, email_unsubscribed) with
`machine` telling scoring and reports to ignore prefetching proxies and link scanners.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.text import slugify

from tsunagari.crm.choices import ConsentAction, ConsentChannel, ConsentMethod, ConsentState
from tsunagari.crm.models import ConsentRecord, Contact
from tsunagari.crm.services import consent_record
from tsunagari.mail.models import Click, Link, Message, SenderSettings, Suppression, Topic
from tsunagari.tracking.models import Touchpoint, Visitor
from tsunagari.tracking.services import touchpoints_append, visitor_identify
from tsunagari.tracking.vocabulary import Channel, Type

# User agents of link scanners and prefetchers (lower case substrings). Apple Mail Privacy
# Protection fetches through proxies that send a bare "Mozilla/5.0".
MACHINE_AGENTS = (
    "bot",
    "spider",
    "crawl",
    "scanner",
    "barracuda",
    "mimecast",
    "proofpoint",
    "urldefense",
    "safelinks",
    "python-requests",
    "python-urllib",
    "curl/",
    "wget",
    "go-http-client",
    "headless",
    "java/",
    "okhttp",
)
# A second link of the same message clicked this soon after another, shortly after
# delivery, is a scanner following every link, not a reader.
SCANNER_BURST = dt.timedelta(seconds=5)
SCANNER_AFTER_DELIVERY = dt.timedelta(minutes=10)


def touch(
    message: Message, type_key: str, *, machine: bool, when: dt.datetime, url: str = ""
) -> Touchpoint:
    return Touchpoint(
        contact_id=message.contact_id,
        type=type_key,
        channel=Channel.EMAIL,
        occurred_at=when,
        source="mail",
        title=message.subject[:300],
        url=url[:2000],
        is_bot=machine,
        properties={
            "broadcast_id": message.broadcast_id,
            "message_id": message.pk,
            "template_id": message.template_id,
            "machine": machine,
        },
    )


def machine_agent(user_agent: str) -> bool:
    agent = user_agent.strip().lower()
    if agent in ("", "mozilla/5.0"):
        return True
    return any(marker in agent for marker in MACHINE_AGENTS)


@transaction.atomic
def record_open(*, message: Message, user_agent: str) -> bool:
    """One open (the pixel loaded); returns whether it looks machine-made."""
    now = timezone.now()
    machine = machine_agent(user_agent)
    if machine:
        Message.objects.filter(pk=message.pk, machine_opened_at__isnull=True).update(
            machine_opened_at=now
        )
    else:
        Message.objects.filter(pk=message.pk, opened_at__isnull=True).update(opened_at=now)
        _engaged(message.to_email)
    touchpoints_append([touch(message, Type.EMAIL_OPENED, machine=machine, when=now)])
    return machine


def _scanner_burst(message: Message, link: Link, now: dt.datetime) -> bool:
    if message.sent_at is None or now - message.sent_at > SCANNER_AFTER_DELIVERY:
        return False
    return (
        Click.objects.filter(message=message, occurred_at__gte=now - SCANNER_BURST)
        .exclude(link=link)
        .exists()
    )


def destination(link: Link, message: Message, sender: SenderSettings) -> str:
    """The link's URL from the database, with UTM tags added where the URL has none."""
    url = link.url
    if not sender.utm_enabled:
        return url
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    present = {key for key, _value in query}
    campaign = (
        slugify(message.broadcast.name, allow_unicode=True)[:100]
        if message.broadcast_id
        else f"template-{message.template_id}"
    )
    tags = {
        "utm_source": sender.utm_source,
        "utm_medium": sender.utm_medium,
        "utm_campaign": campaign,
    }
    query += [(k, v) for k, v in tags.items() if v and k not in present]
    return urlunsplit(parts._replace(query=urlencode(query)))


@transaction.atomic
def record_click(
    *, message: Message, link: Link, user_agent: str, head: bool, visitor_uid: str = ""
) -> bool:
    """One click; a human click also counts as an open and identifies a known visitor."""
    now = timezone.now()
    machine = head or machine_agent(user_agent) or _scanner_burst(message, link, now)
    Click.objects.create(message=message, link=link, occurred_at=now, machine=machine)
    if not machine:
        Message.objects.filter(pk=message.pk, clicked_at__isnull=True).update(clicked_at=now)
        Message.objects.filter(pk=message.pk, opened_at__isnull=True).update(opened_at=now)
        _engaged(message.to_email)
    touchpoints_append(
        [touch(message, Type.EMAIL_CLICKED, machine=machine, when=now, url=link.url)]
    )
    if not machine and len(visitor_uid) == 32:
        visitor = Visitor.objects.filter(uid=visitor_uid).first()
        contact = Contact.objects.filter(pk=message.contact_id, deleted_at__isnull=True).first()
        if visitor is not None and contact is not None and visitor.contact_id != contact.pk:
            visitor_identify(visitor=visitor, contact=contact, how=f"mail:message:{message.pk}")
    return machine


@transaction.atomic
def unsubscribe(*, message: Message, reason: str = "", ip: str | None = None) -> bool:
    """Opt the contact out of marketing email at once; False when this link was already used.

    A used link does nothing again: replaying an old email's token after the person opted
    back in must not opt them out a second time.
    """
    now = timezone.now()
    touched = Message.objects.filter(pk=message.pk, unsubscribed_at__isnull=True).update(
        unsubscribed_at=now, unsubscribe_reason=reason[:300]
    )
    if not touched:
        return False
    contact = Contact.objects.get(pk=message.contact_id)
    consent_record(
        contact=contact,
        channel=ConsentChannel.EMAIL,
        action=ConsentAction.OPT_OUT,
        method=ConsentMethod.EMAIL_LINK,
        source=f"mail:message:{message.pk}",
        consent_text="List-Unsubscribe / unsubscribe link",
        ip_address=ip or None,
        recorded_at=now,
    )
    touchpoints_append([touch(message, Type.EMAIL_UNSUBSCRIBED, machine=False, when=now)])
    return True


# --- The preference centre ---------------------------------------------------------------------


def topic_states(contact: Contact) -> dict[str, bool]:
    """Subscribed or not per active topic: the latest topic record wins; none means yes."""
    latest: dict[str, str] = {}
    records = ConsentRecord.objects.filter(contact=contact, channel=ConsentChannel.EMAIL).exclude(
        topic=""
    )
    for topic, action in records.order_by("recorded_at", "id").values_list("topic", "action"):
        latest[topic] = action
    return {
        t.key: latest.get(t.key) != ConsentAction.OPT_OUT
        for t in Topic.objects.filter(is_active=True)
    }


def topic_opt_outs(contact_ids, topic_key: str) -> set[int]:
    """Of these contacts, those whose latest record for the topic is an opt-out."""
    latest: dict[int, str] = {}
    rows = (
        ConsentRecord.objects.filter(
            contact_id__in=list(contact_ids), channel=ConsentChannel.EMAIL, topic=topic_key
        )
        .order_by("recorded_at", "id")
        .values_list("contact_id", "action")
    )
    for contact_id, action in rows:
        latest[contact_id] = action
    return {cid for cid, action in latest.items() if action == ConsentAction.OPT_OUT}


@transaction.atomic
def preferences_update(
    *, contact: Contact, subscribed: set[str], everything_off: bool, ip: str | None = None
) -> None:
    """Record each topic that changed; `everything_off` opts out of all marketing email.

    Opting back in to the channel as a whole is not offered here: that needs a consent form
    with its wording, not a link that may have been forwarded.
    """
    now = timezone.now()
    common = {
        "contact": contact,
        "channel": ConsentChannel.EMAIL,
        "method": ConsentMethod.EMAIL_LINK,
        "source": "mail:preferences",
        "ip_address": ip or None,
        "recorded_at": now,
    }
    for key, was in topic_states(contact).items():
        wanted = key in subscribed
        if wanted != was:
            action = ConsentAction.OPT_IN if wanted else ConsentAction.OPT_OUT
            consent_record(topic=key, action=action, **common)
    if everything_off and contact.email_consent != ConsentState.OPT_OUT:
        consent_record(action=ConsentAction.OPT_OUT, **common)


# --- Suppression -------------------------------------------------------------------------------


def normalised(email: str) -> str:
    return email.strip().lower()


def suppress(*, email: str, reason: str, detail: str = "") -> None:
    """Never email this address again (until staff lift it)."""
    address = normalised(email)
    if not address:
        return
    updated = Suppression.objects.filter(email=address).update(
        active=True, reason=reason, detail=detail[:500], updated_at=timezone.now()
    )
    if not updated:
        Suppression.objects.get_or_create(
            email=address, defaults={"reason": reason, "detail": detail[:500], "active": True}
        )


def soft_bounce(*, email: str, limit: int, detail: str = "") -> bool:
    """Count a soft bounce; the `limit`-th in a row suppresses. True when it did."""
    address = normalised(email)
    row, _created = Suppression.objects.get_or_create(
        email=address, defaults={"active": False, "soft_streak": 0}
    )
    Suppression.objects.filter(pk=row.pk).update(soft_streak=F("soft_streak") + 1)
    row.refresh_from_db()
    if not row.active and row.soft_streak >= limit:
        suppress(email=address, reason=Suppression.Reason.SOFT_BOUNCES, detail=detail)
        return True
    return False


def _engaged(email: str) -> None:
    """A human open or click proves the mailbox works: the soft-bounce count starts again."""
    if email:
        Suppression.objects.filter(email=normalised(email), active=False, soft_streak__gt=0).update(
            soft_streak=0
        )


def unsuppress(*, email: str) -> None:
    Suppression.objects.filter(email=normalised(email)).update(
        active=False, soft_streak=0, updated_at=timezone.now()
    )
