"""Staff pages for email: templates (editor, preview, test send), broadcasts (create, schedule,
pause, resume, cancel, reports), topics, the suppression list and the sender settings."""

from __future__ import annotations

from smtplib import SMTPException

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from tsunagari.core.access import nav_area, require_capability
from tsunagari.core.roles import Capability
from tsunagari.crm.models import Contact
from tsunagari.crm.queries import get_contact_for_user
from tsunagari.mail import engagement, queries, services
from tsunagari.mail.compose import ComplianceError, HeaderError, sender_problems
from tsunagari.mail.forms import (
    BroadcastForm,
    ScheduleForm,
    SenderSettingsForm,
    SuppressionForm,
    TemplateForm,
    TestSendForm,
    TopicForm,
)
from tsunagari.mail.models import Broadcast, Suppression, Template, Topic


def get_template_for_user(user, pk: int) -> Template:
    """Templates are shared by the marketing team: any user with mail.view sees them all."""
    return get_object_or_404(Template, pk=pk, deleted_at__isnull=True)


def get_broadcast_for_user(user, pk: int) -> Broadcast:
    return get_object_or_404(Broadcast.objects.select_related("template", "segment"), pk=pk)


@nav_area("mail")
@require_capability(Capability.MAIL_VIEW)
def index(request: HttpRequest) -> HttpResponse:
    """The mail home: templates, with the latest broadcasts beside them."""
    page = Paginator(queries.templates_live(), queries.PAGE_SIZE).get_page(request.GET.get("page"))
    sender = queries.sender_settings()
    return render(
        request,
        "mail/index.html",
        {
            "page": page,
            "paginator": page.paginator,
            "broadcasts": queries.broadcasts_list()[:5],
            "sender_problems": sender_problems(sender),
            "can_send": request.user.can(Capability.MAIL_SEND),
            "can_configure": request.user.can(Capability.MAIL_CONFIGURE),
        },
    )


@nav_area("mail")
@require_capability(Capability.MAIL_SEND)
@require_http_methods(["GET", "POST"])
def template_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    template = get_template_for_user(request.user, pk) if pk else Template()
    form = TemplateForm(request.POST or None, instance=template)
    problems: list[str] = []
    if request.method == "POST" and form.is_valid():
        try:
            saved = services.template_save(template=form.save(commit=False), actor=request.user)
        except ComplianceError as exc:
            problems = exc.problems
        else:
            messages.success(request, _("Template saved."))
            return redirect("mail:template_edit", pk=saved.pk)
    contacts = Contact.objects.filter(deleted_at__isnull=True, email__isnull=False).order_by("-id")
    return render(
        request,
        "mail/template_form.html",
        {
            "form": form,
            "template": template,
            "problems": problems,
            "sample_contacts": contacts[:20],
            "test_form": TestSendForm(),
        },
    )


@require_capability(Capability.MAIL_VIEW)
def template_preview(request: HttpRequest, pk: int) -> HttpResponse:
    """htmx: the email as one contact would get it (subject, HTML in a sandboxed frame, text)."""
    template = get_template_for_user(request.user, pk)
    contact = Contact.objects.filter(pk=request.GET.get("contact") or 0).first()
    contact = contact or Contact.objects.filter(deleted_at__isnull=True).order_by("-id").first()
    if contact is None:
        return render(request, "mail/partials/preview.html", {"empty": True})
    try:
        preview = services.template_preview(template=template, contact=contact)
    except (ValueError, HeaderError) as exc:
        return render(request, "mail/partials/preview.html", {"error": str(exc)})
    return render(request, "mail/partials/preview.html", {"preview": preview, "contact": contact})


@require_capability(Capability.MAIL_SEND)
@require_POST
def template_test(request: HttpRequest, pk: int) -> HttpResponse:
    template = get_template_for_user(request.user, pk)
    form = TestSendForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Enter a valid address to send the test to."))
        return redirect("mail:template_edit", pk=pk)
    contact = Contact.objects.filter(pk=form.cleaned_data["contact"] or 0).first()
    contact = contact or Contact.objects.filter(deleted_at__isnull=True).order_by("-id").first()
    if contact is None:
        messages.error(request, _("Add a contact first: a test is personalised as one."))
        return redirect("mail:template_edit", pk=pk)
    try:
        services.template_test_send(template=template, contact=contact, to=form.cleaned_data["to"])
    except ComplianceError as exc:
        messages.error(request, " ".join(exc.problems))
    except (SMTPException, OSError, HeaderError) as exc:
        messages.error(request, _("The test could not be sent: %(error)s") % {"error": exc})
    else:
        messages.success(request, _("Test sent to %(to)s.") % {"to": form.cleaned_data["to"]})
    return redirect("mail:template_edit", pk=pk)


@nav_area("mail")
@require_capability(Capability.MAIL_VIEW)
def broadcast_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(queries.broadcasts_list(), queries.PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "mail/broadcast_list.html",
        {
            "page": page,
            "paginator": page.paginator,
            "can_send": request.user.can(Capability.MAIL_SEND),
        },
    )


@nav_area("mail")
@require_capability(Capability.MAIL_SEND)
@require_http_methods(["GET", "POST"])
def broadcast_new(request: HttpRequest) -> HttpResponse:
    form = BroadcastForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        broadcast = form.save(commit=False)
        broadcast.created_by = request.user
        broadcast.save()
        form.save_m2m()
        messages.success(request, _("Broadcast created. Check it, then schedule it."))
        return redirect("mail:broadcast_detail", pk=broadcast.pk)
    return render(request, "mail/broadcast_form.html", {"form": form})


@nav_area("mail")
@require_capability(Capability.MAIL_VIEW)
def broadcast_detail(request: HttpRequest, pk: int) -> HttpResponse:
    broadcast = get_broadcast_for_user(request.user, pk)
    context = {
        "broadcast": broadcast,
        "report": queries.broadcast_report(broadcast),
        "links": queries.link_report(broadcast),
        "reasons": queries.unsubscribe_reasons(broadcast),
        "problems": services.broadcast_problems(broadcast)
        if broadcast.status == Broadcast.Status.DRAFT
        else [],
        "audience": services.audience(broadcast).count()
        if broadcast.status in (Broadcast.Status.DRAFT, Broadcast.Status.SCHEDULED)
        else None,
        "schedule_form": ScheduleForm(),
        "can_send": request.user.can(Capability.MAIL_SEND),
    }
    if request.htmx:
        return render(request, "mail/partials/broadcast_report.html", context)
    return render(request, "mail/broadcast_detail.html", context)


ACTIONS = {
    "pause": services.broadcast_pause,
    "resume": services.broadcast_resume,
    "cancel": services.broadcast_cancel,
}


@require_capability(Capability.MAIL_SEND)
@require_POST
def broadcast_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    broadcast = get_broadcast_for_user(request.user, pk)
    try:
        if action == "schedule":
            form = ScheduleForm(request.POST)
            if not form.is_valid():
                raise services.MailError(_("Enter a valid date and time."))
            at = form.cleaned_data["send_at"]
            if at is not None and at < timezone.now():
                raise services.MailError(_("The sending time is in the past."))
            services.broadcast_schedule(broadcast=broadcast, at=at, actor=request.user)
            messages.success(request, _("Broadcast scheduled."))
        elif action in ACTIONS:
            ACTIONS[action](broadcast=broadcast)
            messages.success(request, _("Done."))
        else:
            raise Http404
    except ComplianceError as exc:
        for problem in exc.problems:
            messages.error(request, problem)
    except services.MailError as exc:
        messages.error(request, str(exc))
    return redirect("mail:broadcast_detail", pk=pk)


@nav_area("mail")
@require_capability(Capability.MAIL_SEND)
@require_http_methods(["GET", "POST"])
def topic_list(request: HttpRequest) -> HttpResponse:
    form = TopicForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        services.topic_save(topic=form.save(commit=False))
        messages.success(request, _("Topic saved."))
        return redirect("mail:topic_list")
    return render(request, "mail/topic_list.html", {"topics": Topic.objects.all(), "form": form})


@nav_area("mail")
@require_capability(Capability.MAIL_CONFIGURE)
@require_http_methods(["GET", "POST"])
def suppression_list(request: HttpRequest) -> HttpResponse:
    form = SuppressionForm(request.POST or None)
    if request.method == "POST" and request.POST.get("lift"):
        engagement.unsuppress(email=request.POST["lift"])
        messages.success(request, _("Suppression lifted."))
        return redirect("mail:suppression_list")
    if request.method == "POST" and form.is_valid():
        engagement.suppress(
            email=form.cleaned_data["email"],
            reason=Suppression.Reason.MANUAL,
            detail=form.cleaned_data["detail"],
        )
        messages.success(request, _("Address suppressed."))
        return redirect("mail:suppression_list")
    rows = Suppression.objects.filter(active=True)
    query = request.GET.get("q", "").strip().lower()
    if query:
        rows = rows.filter(email__startswith=query)
    page = Paginator(rows, queries.PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "mail/suppression_list.html",
        {"page": page, "paginator": page.paginator, "form": form, "q": query},
    )


@nav_area("mail")
@require_capability(Capability.MAIL_CONFIGURE)
@require_http_methods(["GET", "POST"])
def sender_edit(request: HttpRequest) -> HttpResponse:
    form = SenderSettingsForm(request.POST or None, instance=queries.sender_settings())
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("Sender settings saved."))
        return redirect("mail:sender_settings")
    return render(request, "mail/sender_form.html", {"form": form})


@require_capability(Capability.CRM_VIEW)
def contact_panel(request: HttpRequest, pk: int) -> HttpResponse:
    """The contact page's email panel: the latest emails and whether the address is suppressed."""
    contact = get_contact_for_user(request.user, pk)
    suppression = (
        Suppression.objects.filter(email=contact.email.lower(), active=True).first()
        if contact.email
        else None
    )
    return render(
        request,
        "mail/partials/contact_panel.html",
        {
            "contact": contact,
            "messages_": queries.messages_of_contact(contact.pk)[:20],
            "suppression": suppression,
        },
    )
