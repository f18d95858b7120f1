"""Reading mail: the sender settings, lists, and the reports per broadcast and per link."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet

from tsunagari.mail.models import Broadcast, Click, Link, Message, SenderSettings, Template

PAGE_SIZE = 50


def sender_settings() -> SenderSettings:
    """The one settings row, created empty on first use."""
    sender, _created = SenderSettings.objects.get_or_create(pk=1)
    return sender


def templates_live() -> QuerySet[Template]:
    return Template.objects.filter(deleted_at__isnull=True).select_related("topic")


def broadcasts_list() -> QuerySet[Broadcast]:
    return Broadcast.objects.select_related("template", "segment")


@dataclass
class BroadcastReport:
    recipients: int
    by_status: dict[str, int]
    skip_reasons: list[tuple[str, int]]
    sent: int
    delivered: int
    opened: int
    clicked: int
    unsubscribed: int
    bounced: int
    complained: int
    machine_opened: int
    variants: list[dict]

    def rate(self, count: int) -> float:
        return round(100.0 * count / self.delivered, 1) if self.delivered else 0.0

    @property
    def open_rate(self) -> float:
        return self.rate(self.opened)

    @property
    def click_rate(self) -> float:
        return self.rate(self.clicked)

    @property
    def unsubscribe_rate(self) -> float:
        return self.rate(self.unsubscribed)

    @property
    def bounce_rate(self) -> float:
        return round(100.0 * self.bounced / self.sent, 1) if self.sent else 0.0


def _engagement(qs: QuerySet[Message]) -> dict:
    """Human engagement only: machine opens and scanner clicks are counted apart."""
    return qs.aggregate(
        sent=Count("pk", filter=Q(status=Message.Status.SENT)),
        opened=Count("pk", filter=Q(opened_at__isnull=False)),
        clicked=Count("pk", filter=Q(clicked_at__isnull=False)),
        unsubscribed=Count("pk", filter=Q(unsubscribed_at__isnull=False)),
        bounced=Count("pk", filter=Q(bounced_at__isnull=False)),
        complained=Count("pk", filter=Q(complained_at__isnull=False)),
        machine_opened=Count(
            "pk", filter=Q(machine_opened_at__isnull=False, opened_at__isnull=True)
        ),
    )


def broadcast_report(broadcast: Broadcast) -> BroadcastReport:
    messages = Message.objects.filter(broadcast=broadcast)
    by_status = dict(messages.values("status").annotate(n=Count("pk")).values_list("status", "n"))
    reasons = list(
        messages.filter(status=Message.Status.SKIPPED)
        .values("skip_reason")
        .annotate(n=Count("pk"))
        .order_by("-n")
        .values_list("skip_reason", "n")
    )
    totals = _engagement(messages)
    variants = []
    if broadcast.subject_b:
        for variant, subject in (("a", broadcast.template.subject), ("b", broadcast.subject_b)):
            figures = _engagement(messages.filter(variant=variant))
            variants.append({"variant": variant, "subject": subject, **figures})
    return BroadcastReport(
        recipients=sum(by_status.values()),
        by_status=by_status,
        skip_reasons=reasons,
        delivered=totals["sent"] - totals["bounced"],
        variants=variants,
        **totals,
    )


def link_report(broadcast: Broadcast) -> list[dict]:
    """Per link: human clicks, unique human clickers, and scanner clicks apart."""
    rows = (
        Link.objects.filter(scope=f"b:{broadcast.pk}")
        .annotate(
            human=Count("clicks", filter=Q(clicks__machine=False)),
            clickers=Count("clicks__message", filter=Q(clicks__machine=False), distinct=True),
            machine=Count("clicks", filter=Q(clicks__machine=True)),
        )
        .order_by("-human", "id")
        .values("id", "url", "human", "clickers", "machine")
    )
    return list(rows)


def unsubscribe_reasons(broadcast: Broadcast) -> list[tuple[str, int]]:
    return list(
        Message.objects.filter(broadcast=broadcast, unsubscribed_at__isnull=False)
        .exclude(unsubscribe_reason="")
        .values("unsubscribe_reason")
        .annotate(n=Count("pk"))
        .order_by("-n")
        .values_list("unsubscribe_reason", "n")
    )


def clicks_of(message: Message) -> QuerySet[Click]:
    return Click.objects.filter(message=message).select_related("link")


def messages_of_contact(contact_id: int) -> QuerySet[Message]:
    """A contact's emails, newest first (the contact page's panel)."""
    return (
        Message.objects.filter(contact_id=contact_id)
        .select_related("broadcast", "template")
        .order_by("-created_at", "-id")
    )
