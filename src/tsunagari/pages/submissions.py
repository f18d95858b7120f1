"""Handling a form submission: validate, upsert contact and account, consent, touchpoint,
visitor identification, gated download link, double opt-in and owner notifications.

Scoring and journeys are not run here: they read the form_submitted touchpoint from the
stream later, like every other touch. Emails (double opt-in, owners) are outbox rows the
worker sends: a submission never waits for an SMTP server.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.core import signing
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from tsunagari.core.text import normalize_company_name, normalize_domain
from tsunagari.crm.choices import ConsentAction, ConsentChannel, ConsentMethod
from tsunagari.crm.models import Account, Contact, CustomField
from tsunagari.crm.services import (
    account_for_email_domain,
    account_save,
    consent_record,
    contact_save,
)
from tsunagari.crm.validation import FREE_MAIL_DOMAINS
from tsunagari.pages import protection
from tsunagari.pages.fieldmap import TARGETS, clean_answer, custom_field_for
from tsunagari.pages.models import (
    ContentAsset,
    Form,
    FormField,
    FormSubmission,
    PageVariant,
    PendingConsent,
    SubmissionEmail,
)
from tsunagari.pages.protection import FormToken, Refused
from tsunagari.pages.queries import visitor_by_uid
from tsunagari.tracking.models import Touchpoint, Visitor
from tsunagari.tracking.services import touchpoints_append, visitor_identify
from tsunagari.tracking.vocabulary import Channel, Type
from tsunagari.work.claims import claim_one, due

log = logging.getLogger(__name__)

CONFIRM_SALT = "tsunagari.pages.confirm"
CONFIRM_MAX_AGE = 7 * 24 * 3600
DOWNLOAD_SALT = "tsunagari.pages.download"
DOWNLOAD_MAX_AGE = 7 * 24 * 3600
UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")


@dataclass
class SubmitContext:
    """Facts of the request, gathered by the view (hosted page, embed or plain post)."""

    ip: str = ""
    user_agent: str = ""
    origin: str = ""  # the registered site's origin; "" on a hosted page
    token: str = ""
    visitor_uid: str = ""  # a plain post's _tsg_vid; the token's visitor wins when present
    page_url: str = ""
    base_url: str = ""  # this server, for links in emails: https://tsunagari.example.co.jp


@dataclass
class SubmitResult:
    errors: dict[str, str] = field(default_factory=dict)  # input name → message
    spam: bool = False
    submission: FormSubmission | None = None
    download_url: str = ""
    awaiting_confirmation: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors


def _raw(data, name: str) -> str:
    value = data.get(name, "")
    if isinstance(value, list):
        value = value[0] if value else ""
    return value if isinstance(value, str) else str(value)


def _asked_fields(form: Form, fields: list[FormField], token: FormToken | None, data) -> list:
    if token is not None:
        wanted = set(token.asked)
        return [f for f in fields if f.pk in wanted]
    # A plain HTML post: the fields it carries, plus every always-asked one.
    return [
        f for f in fields if f.name in data or f.kind != FormField.Kind.FIELD or not f.progressive
    ]


@dataclass
class _Answers:
    values: dict[str, object] = field(default_factory=dict)  # target → cleaned value
    shown: dict[str, object] = field(default_factory=dict)  # label → value, for people
    hidden: dict[str, str] = field(default_factory=dict)
    consents: list[dict] = field(default_factory=list)
    customs: dict[str, CustomField] = field(default_factory=dict)


def _validate(asked: list[FormField], data) -> tuple[_Answers, dict[str, str]]:
    answers = _Answers()
    errors: dict[str, str] = {}
    for f in asked:
        raw = _raw(data, f.name)
        if len(raw) > protection.MAX_ANSWER_CHARS:
            errors[f.name] = _("This answer is too long.")
            continue
        if f.kind == FormField.Kind.HIDDEN:
            answers.hidden[f.target] = "".join(ch for ch in (raw or f.default) if ch >= " ")[:500]
            continue
        if f.kind == FormField.Kind.CONSENT:
            version = f.current_consent()
            checked = bool(raw)
            if f.required and not checked:
                errors[f.name] = _("Please tick this box to continue.")
            answers.consents.append(
                {
                    "topic": f.target,
                    "version": version.version if version else 0,
                    "text": version.text if version else f.label,
                    "checked": checked,
                }
            )
            continue
        if not raw.strip():
            if f.required:
                errors[f.name] = _("This field is required.")
            continue
        custom = None
        if f.target not in TARGETS:
            custom = custom_field_for(f.target)
            if custom is not None:
                answers.customs[f.target] = custom
        if f.choices and raw.strip() not in [str(c) for c in f.choices]:
            errors[f.name] = _("Choose one of the options.")
            continue
        try:
            value = clean_answer(f.target, raw, custom)
        except ValidationError as exc:
            errors[f.name] = " ".join(exc.messages)
            continue
        answers.values[f.target] = value
        answers.shown[str(f.label or f.target)] = value
    if not errors and not answers.values.get("email"):
        email_field = next((f for f in asked if f.target == "email"), None)
        errors[email_field.name if email_field else "email"] = _("An email address is required.")
    return answers, errors


def form_submit(*, form: Form, data, ctx: SubmitContext) -> SubmitResult:
    """Validate and store one submission; Refused when the request itself is not acceptable.

    Honeypot hits return a result that looks accepted (bots learn nothing) and store nothing.
    """
    if not form.is_active:
        raise Refused(404, _("This form is no longer available."))
    protection.check_rates(ctx.ip, form.pk)
    if _raw(data, protection.HONEYPOT):
        return SubmitResult(spam=True)
    token = None
    if ctx.token:
        token = protection.token_read(ctx.token, form_id=form.pk)
        if token.origin != ctx.origin:  # a hosted page's token is for that page only
            raise Refused(400, _("This form could not be verified. Reload the page."))
        protection.check_fill_time(token, form.min_fill_seconds)
    elif not form.accept_plain_post:
        raise Refused(400, _("This form could not be verified. Reload the page."))
    fields = list(form.fields.prefetch_related("consent_texts"))
    answers, errors = _validate(_asked_fields(form, fields, token, data), data)
    if errors:
        return SubmitResult(errors=errors)
    for attempt in (1, 2):
        try:
            with transaction.atomic():
                if token is not None:
                    protection.token_use(token)
                return _store(form, answers, ctx, token)
        except IntegrityError:
            # Two first submissions of one new address at once: the second to commit finds
            # the email taken; run again, and it finds the contact the first one created.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _store(form: Form, answers: _Answers, ctx: SubmitContext, token: FormToken | None):
    now = timezone.now()
    visitor = visitor_by_uid(token.visitor if token and token.visitor else ctx.visitor_uid)
    email = str(answers.values["email"])
    contact = (
        Contact.objects.select_for_update(of=("self",))
        .filter(email=email, deleted_at__isnull=True)
        .select_related("account")
        .first()
    )
    # Known values are overwritten only when this browser is already that contact's: an
    # address typed on someone else's computer fills gaps but never rewrites a profile.
    trusted = contact is None or (visitor is not None and visitor.contact_id == contact.pk)
    # A new contact's last activity is this submission's touch: written with the row, so the
    # touch's append finds nothing to move (no second write of the contact and its index).
    contact = contact or Contact(email=email, last_activity_at=now)
    account = _account_for(answers, email, contact)
    if account is not None and contact.account_id is None:
        contact.account = account
    source = f"form:{form.name}"[:100]
    _apply(contact, "contact", answers, trusted, now, source)
    contact = contact_save(contact=contact, source=f"form:{form.pk}")

    landing_page_id = token.landing_page if token else None
    variant = token.variant if token else ""
    pending = [c for c in answers.consents if c["checked"]] if form.double_opt_in else []
    submission = FormSubmission.objects.create(
        form=form,
        contact=contact,
        visitor=visitor,
        landing_page_id=landing_page_id,
        variant=variant,
        data={k: v for k, v in answers.shown.items() if k},
        hidden=answers.hidden,
        consents=answers.consents,
        status=FormSubmission.Status.AWAITING if pending else FormSubmission.Status.ACCEPTED,
        origin=ctx.origin,
        ip_address=ctx.ip or None,
        user_agent=ctx.user_agent[:300],
        created_at=now,
    )
    for consent in answers.consents:
        if not consent["checked"]:
            continue  # an unticked box is no opt-out: it records nothing
        if form.double_opt_in:
            PendingConsent.objects.create(
                submission=submission,
                contact=contact,
                topic=consent["topic"],
                consent_text=consent["text"],
                created_at=now,
            )
        else:
            consent_record(
                contact=contact,
                channel=ConsentChannel.EMAIL,
                action=ConsentAction.OPT_IN,
                method=ConsentMethod.FORM,
                topic=consent["topic"],
                source=source,
                consent_text=consent["text"],
                ip_address=ctx.ip or None,
                recorded_at=now,
            )
    _touch(form, contact, visitor, answers, ctx, landing_page_id, variant, now)
    if landing_page_id and variant:
        PageVariant.objects.filter(page_id=landing_page_id, key=variant).update(
            conversions=F("conversions") + 1
        )
    if visitor is not None and visitor.contact_id != contact.pk:
        visitor_identify(visitor=visitor, contact=contact, how=f"form:{form.pk}")
    result = SubmitResult(submission=submission, awaiting_confirmation=bool(pending))
    # The emails are outbox rows the worker sends (pages.emails, submission_emails_send).
    if form.asset_id and not pending:
        result.download_url = download_link(ctx.base_url, form.asset_id, contact.pk)
    emails = [SubmissionEmail.Kind.CONFIRM] if pending else []
    if form.notify_list():
        emails.append(SubmissionEmail.Kind.NOTIFY)
    SubmissionEmail.objects.bulk_create(
        [
            SubmissionEmail(submission=submission, kind=kind, base_url=ctx.base_url, due_at=now)
            for kind in emails
        ]
    )
    return result


def _account_for(answers: _Answers, email: str, contact: Contact) -> Account | None:
    """The account by 法人番号, the contact's own, the email domain, or the company name."""
    values = answers.values
    number = values.get("corporate_number") or ""
    name = str(values.get("company") or "")
    account = None
    if number:
        account = Account.objects.filter(corporate_number=number, deleted_at__isnull=True).first()
    if account is None and contact.account_id:
        account = contact.account
    if account is None:
        account = account_for_email_domain(email)
    if account is None and name:
        # Only an unambiguous name: two live accounts of that name are no match.
        key = normalize_company_name(name)
        found = list(Account.objects.filter(name_key=key, deleted_at__isnull=True)[:2])
        if len(found) == 1:
            account = found[0]
    has_account_answers = any(t in values and TARGETS[t].obj == "account" for t in TARGETS) or any(
        t.startswith("account.custom.") for t in values
    )
    if account is None and not name:
        return None
    domain = normalize_domain(email)
    domains = None
    if account is None:
        account = Account(name=name)
        domains = [domain] if domain and domain not in FREE_MAIL_DOMAINS else []
    if number and not account.corporate_number:
        account.corporate_number = number
    if has_account_answers or domains is not None:
        _apply(account, "account", answers, account.pk is None, None, "")
        account_save(account=account, domains=domains)
    return account


def _apply(obj, kind: str, answers: _Answers, overwrite: bool, now, source: str) -> None:
    for target, value in answers.values.items():
        if target in TARGETS:
            t = TARGETS[target]
            if t.obj != kind or target == "email" or target == "corporate_number":
                continue
            if not overwrite and getattr(obj, t.attr) not in (None, ""):
                continue
            setattr(obj, t.attr, value)
            if t.bant and now is not None:
                setattr(obj, f"bant_{t.bant}_at", now)
                setattr(obj, f"bant_{t.bant}_source", source)
        elif target.startswith(f"{kind}.custom."):
            key = target[len(f"{kind}.custom.") :]
            if overwrite or obj.custom.get(key) in (None, "", []):
                obj.custom = {**obj.custom, key: value}


def _touch(form, contact, visitor, answers, ctx, landing_page_id, variant, now) -> None:
    hidden = answers.hidden
    page = hidden.get("page") or ctx.page_url
    parts = urlsplit(page) if page else None
    touches = [
        Touchpoint(
            contact=contact,
            account_id=contact.account_id,  # known: the stream need not look it up
            visitor=visitor,
            type=Type.FORM_SUBMITTED,
            channel=Channel.FORM,
            occurred_at=now,
            source=(ctx.origin or "hosted")[:100],
            campaign=(hidden.get("campaign") or hidden.get("utm_campaign") or "")[:100],
            url=page[:2000] if page else "",
            path=(parts.path[:1000] if parts else ""),
            content_asset=form.asset.key if form.asset_id else "",
            properties={
                "form_id": form.pk,
                "form": form.name,
                "landing_page_id": landing_page_id,
                "variant": variant or None,
            },
            **{key: hidden.get(key, "")[:100] for key in UTM_KEYS},
        )
    ]
    touchpoints_append(touches)


def download_link(base_url: str, asset_id: int, contact_id: int) -> str:
    token = signing.dumps({"a": asset_id, "c": contact_id}, salt=DOWNLOAD_SALT)
    return f"{base_url}/a/{token}"


def download_read(token: str) -> tuple[ContentAsset, Contact | None] | None:
    """The asset and contact of a download link; None when forged or older than 7 days."""
    try:
        data = signing.loads(token, salt=DOWNLOAD_SALT, max_age=DOWNLOAD_MAX_AGE)
    except signing.BadSignature:
        return None
    asset = ContentAsset.objects.filter(pk=data.get("a"), is_active=True).first()
    if asset is None:
        return None
    contact = Contact.objects.filter(pk=data.get("c"), deleted_at__isnull=True).first()
    return asset, contact


@transaction.atomic
def download_record(*, asset: ContentAsset, contact: Contact | None, visitor: Visitor | None):
    touchpoints_append(
        [
            Touchpoint(
                contact=contact,
                visitor=visitor,
                type=Type.DOWNLOAD,
                occurred_at=timezone.now(),
                source="download",
                title=asset.name[:300],
                content_asset=asset.key,
                properties={"asset_id": asset.pk},
            )
        ]
    )


def confirm_token(submission_id: int) -> str:
    return signing.dumps({"s": submission_id}, salt=CONFIRM_SALT)


def confirm_read(token: str) -> FormSubmission | None:
    try:
        data = signing.loads(token, salt=CONFIRM_SALT, max_age=CONFIRM_MAX_AGE)
    except signing.BadSignature:
        return None
    return FormSubmission.objects.select_related("form", "contact").filter(pk=data.get("s")).first()


def send_confirmation(submission_id: int, base_url: str) -> bool:
    """The double opt-in email; at most a few per address in a short time (no mail bombs).

    False when not sent on purpose (no address, too many); OSError when SMTP failed.
    """
    submission = FormSubmission.objects.select_related("form", "contact").get(pk=submission_id)
    email = submission.contact.email if submission.contact else None
    if not email or not protection.confirm_limiter.allow(email):
        return False
    link = f"{base_url}/f/confirm/{confirm_token(submission.pk)}"
    subject = _("Please confirm your subscription: %(form)s") % {"form": submission.form.name}
    body = _(
        "Thank you for your request.\n\nPlease confirm that you wish to receive our emails by "
        "opening this link within 7 days:\n\n%(link)s\n\nIf you did not fill in our form, "
        "ignore this email: nothing will be sent to you."
    ) % {"link": link}
    send_mail(" ".join(subject.split()), body, None, [email])
    return True


@transaction.atomic
def consent_confirm(*, submission: FormSubmission, ip: str = "") -> int:
    """Make the submission's pending consents active; confirming twice records nothing more."""
    now = timezone.now()
    pending = list(PendingConsent.objects.filter(submission=submission, confirmed_at__isnull=True))
    confirmed = 0
    for item in pending:
        # Compare-and-set: two clicks at once confirm once.
        if not PendingConsent.objects.filter(pk=item.pk, confirmed_at__isnull=True).update(
            confirmed_at=now
        ):
            continue
        consent_record(
            contact=item.contact,
            channel=ConsentChannel.EMAIL,
            action=ConsentAction.OPT_IN,
            method=ConsentMethod.EMAIL_LINK,
            topic=item.topic,
            basis=_("double opt-in confirmed"),
            source=f"form:{submission.form.name}"[:200],
            consent_text=item.consent_text,
            ip_address=ip or None,
            recorded_at=now,
        )
        confirmed += 1
    if confirmed:
        FormSubmission.objects.filter(pk=submission.pk).update(
            status=FormSubmission.Status.CONFIRMED
        )
    return confirmed


def notify_owners(submission_id: int, base_url: str) -> None:
    """The owners' email about one submission; OSError when SMTP failed."""
    submission = FormSubmission.objects.select_related("form", "contact").get(pk=submission_id)
    form = submission.form
    lines = [f"{k}: {v}" for k, v in submission.data.items()]
    link = f"{base_url}/contacts/{submission.contact_id}/" if submission.contact_id else ""
    subject = _("New submission: %(form)s") % {"form": form.name}
    body = "\n".join([*lines, "", link]).strip()
    send_mail(" ".join(subject.split()), body, None, form.notify_list())


EMAIL_BATCH = 50
EMAIL_LEASE = dt.timedelta(minutes=5)
EMAIL_MAX_ATTEMPTS = 5


def submission_emails_send() -> int:
    """Work kind `pages.emails`: send a batch of due submission emails; how many were handled.

    A failed send waits 2, 4, 8… minutes and is retried, up to EMAIL_MAX_ATTEMPTS times.
    """
    now = timezone.now()
    Status = SubmissionEmail.Status
    ready = due(Status.QUEUED, Status.SENDING) & Q(due_at__lte=now)
    ids = SubmissionEmail.objects.filter(ready).order_by("due_at").values_list("pk", flat=True)
    batch = [
        pk
        for pk in ids[:EMAIL_BATCH]
        if claim_one(
            SubmissionEmail, pk=pk, ready=ready, running_status=Status.SENDING, lease=EMAIL_LEASE
        )
    ]
    for email in SubmissionEmail.objects.filter(pk__in=batch):
        try:
            if email.kind == SubmissionEmail.Kind.CONFIRM:
                sent = send_confirmation(email.submission_id, email.base_url)
            else:
                notify_owners(email.submission_id, email.base_url)
                sent = True
        except OSError as exc:
            failed = email.attempts >= EMAIL_MAX_ATTEMPTS
            SubmissionEmail.objects.filter(pk=email.pk).update(
                status=Status.FAILED if failed else Status.QUEUED,
                due_at=now + dt.timedelta(minutes=2**email.attempts),
                last_error=str(exc)[:500],
                lease_until=None,
            )
            log.warning("%s email for submission %s failed: %s", email.kind, email.pk, exc)
            continue
        SubmissionEmail.objects.filter(pk=email.pk).update(
            status=Status.SENT if sent else Status.SKIPPED,
            sent_at=timezone.now() if sent else None,
            lease_until=None,
        )
    return len(batch)
