"""Scoring pages: rules, MQL criteria, territories, the reps' lead queue, overdue, back-test."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from tsunagari.core.access import nav_area, require_capability
from tsunagari.core.roles import Capability
from tsunagari.crm.queries import get_contact_for_user
from tsunagari.scoring import backtest as backtesting
from tsunagari.scoring import handoff as handoffs
from tsunagari.scoring import queries, services
from tsunagari.scoring.forms import (
    AcceptForm,
    AssignmentRuleForm,
    BacktestForm,
    BehaviourRuleForm,
    FitRuleForm,
    MqlSettingsForm,
    RejectForm,
)
from tsunagari.scoring.models import (
    AssignmentRule,
    BehaviourRule,
    FitRule,
    Handoff,
    MqlSettings,
    RecomputeJob,
)


@nav_area("scoring")
@require_capability(Capability.CRM_VIEW)
def index(request: HttpRequest) -> HttpResponse:
    context = {
        "rules": BehaviourRule.objects.all(),
        "fit_rules": FitRule.objects.all(),
        "settings": MqlSettings.load(),
        "territories": AssignmentRule.objects.select_related("user", "team"),
        "jobs": RecomputeJob.objects.filter(
            status__in=[RecomputeJob.Status.QUEUED, RecomputeJob.Status.RUNNING]
        ),
        "last_job": RecomputeJob.objects.exclude(status=RecomputeJob.Status.QUEUED).first(),
        "can_configure": request.user.can(Capability.SCORING_CONFIGURE),
        "open_leads": queries.open_lead_count(request.user),
    }
    template = "scoring/partials/jobs.html" if request.htmx else "scoring/index.html"
    return render(request, template, context)


def _form_page(request, form, title: str) -> HttpResponse:
    context = {"form": form, "title": title, "cancel_url": reverse("scoring:index")}
    return render(request, "core/form.html", context)


@nav_area("scoring")
@require_capability(Capability.SCORING_CONFIGURE)
@require_http_methods(["GET", "POST"])
def rule_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    rule = get_object_or_404(BehaviourRule, pk=pk) if pk else BehaviourRule()
    form = BehaviourRuleForm(request.POST or None, instance=rule)
    if request.method == "POST" and form.is_valid():
        services.rule_save(form=form, actor=request.user)
        messages.success(request, _("Saved. Scores are being recomputed in the background."))
        return redirect("scoring:index")
    title = _("Edit behaviour rule") if pk else _("New behaviour rule")
    return _form_page(request, form, title)


@require_capability(Capability.SCORING_CONFIGURE)
@require_POST
def rule_toggle(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(BehaviourRule, pk=pk)
    services.rule_set_active(rule=rule, active=not rule.is_active, actor=request.user)
    messages.success(request, _("Saved. Scores are being recomputed in the background."))
    return redirect("scoring:index")


@require_capability(Capability.SCORING_CONFIGURE)
@require_POST
def recompute_all(request: HttpRequest) -> HttpResponse:
    services.recompute_request(actor=request.user)
    messages.success(request, _("A full recompute is queued."))
    return redirect("scoring:index")


@nav_area("scoring")
@require_capability(Capability.SCORING_CONFIGURE)
@require_http_methods(["GET", "POST"])
def fit_rule_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    rule = get_object_or_404(FitRule, pk=pk) if pk else FitRule()
    form = FitRuleForm(request.POST or None, instance=rule)
    if request.method == "POST" and form.is_valid():
        services.fit_rule_save(form=form, actor=request.user)
        messages.success(request, _("Saved. Grades are being recomputed in the background."))
        return redirect("scoring:index")
    return _form_page(request, form, _("Edit fit rule") if pk else _("New fit rule"))


@require_capability(Capability.SCORING_CONFIGURE)
@require_POST
def fit_rule_toggle(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(FitRule, pk=pk)
    services.fit_rule_set_active(rule=rule, active=not rule.is_active, actor=request.user)
    messages.success(request, _("Saved. Grades are being recomputed in the background."))
    return redirect("scoring:index")


@nav_area("scoring")
@require_capability(Capability.SCORING_CONFIGURE)
@require_http_methods(["GET", "POST"])
def mql_settings(request: HttpRequest) -> HttpResponse:
    form = MqlSettingsForm(request.POST or None, instance=MqlSettings.load())
    if request.method == "POST" and form.is_valid():
        services.mql_settings_save(form=form, actor=request.user)
        messages.success(request, _("Saved. Contacts are checked against the new criteria."))
        return redirect("scoring:index")
    return _form_page(request, form, _("MQL criteria and hand-off"))


@nav_area("scoring")
@require_capability(Capability.SCORING_CONFIGURE)
@require_http_methods(["GET", "POST"])
def assignment_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    rule = get_object_or_404(AssignmentRule, pk=pk) if pk else AssignmentRule()
    form = AssignmentRuleForm(request.POST or None, instance=rule)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("Saved."))
        return redirect("scoring:index")
    return _form_page(request, form, _("Territory rule"))


@require_capability(Capability.SCORING_CONFIGURE)
@require_POST
def assignment_delete(request: HttpRequest, pk: int) -> HttpResponse:
    get_object_or_404(AssignmentRule, pk=pk).delete()
    messages.success(request, _("Deleted."))
    return redirect("scoring:index")


@nav_area("scoring")
@require_capability(Capability.CRM_VIEW)
def handoff_queue(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", Handoff.Status.OPEN)
    everyone = request.user.can(Capability.LEADS_MANAGE) and request.GET.get("all") == "1"
    qs = queries.handoffs_for(request.user, status=status, everyone=everyone)
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "status": status,
        "statuses": Handoff.Status.choices,
        "everyone": everyone,
        "can_manage": request.user.can(Capability.LEADS_MANAGE),
    }
    template = (
        "scoring/partials/handoff_rows.html" if request.htmx else "scoring/handoff_queue.html"
    )
    return render(request, template, context)


@nav_area("scoring")
@require_capability(Capability.LEADS_MANAGE)
def handoff_overdue(request: HttpRequest) -> HttpResponse:
    page = Paginator(handoffs.overdue(), 50).get_page(request.GET.get("page"))
    days = 30
    return render(
        request,
        "scoring/handoff_overdue.html",
        {"page": page, "ignored": handoffs.ignored_rate(days=days), "days": days},
    )


def _handoff_for(request: HttpRequest, pk: int) -> Handoff:
    return get_object_or_404(queries.handoffs_visible_to(request.user), pk=pk)


@nav_area("scoring")
@require_capability(Capability.CRM_VIEW)
def handoff_detail(request: HttpRequest, pk: int) -> HttpResponse:
    handoff = _handoff_for(request, pk)
    contact = handoff.contact
    context = {
        "handoff": handoff,
        "contact": contact,
        "score": queries.score_of(contact.pk),
        "can_work": handoff.status == Handoff.Status.OPEN
        and handoffs.can_work(request.user, handoff),
        "accept_form": AcceptForm(
            initial={
                "bant_budget": contact.bant_budget,
                "buying_role": contact.buying_role,
                "bant_need": contact.bant_need,
                "bant_timing": contact.bant_timing,
            }
        ),
        "reject_form": RejectForm(initial={"reset_score": MqlSettings.load().reset_on_reject}),
    }
    return render(request, "scoring/handoff_detail.html", context)


@require_capability(Capability.CRM_VIEW)
@require_POST
def handoff_accept(request: HttpRequest, pk: int) -> HttpResponse:
    handoff = _handoff_for(request, pk)
    form = AcceptForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Check the BANT values."))
        return redirect("scoring:handoff_detail", pk=pk)
    try:
        handoffs.handoff_accept(handoff=handoff, actor=request.user, bant=form.cleaned_data)
    except handoffs.HandoffError as exc:
        messages.error(request, str(exc))
        return redirect("scoring:handoff_detail", pk=pk)
    messages.success(request, _("Accepted: the contact is now an SQL."))
    return redirect("scoring:handoff_queue")


@require_capability(Capability.CRM_VIEW)
@require_POST
def handoff_reject(request: HttpRequest, pk: int) -> HttpResponse:
    handoff = _handoff_for(request, pk)
    form = RejectForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose why the lead goes back to nurturing."))
        return redirect("scoring:handoff_detail", pk=pk)
    data = form.cleaned_data
    try:
        handoffs.handoff_reject(
            handoff=handoff,
            actor=request.user,
            reason=data["reason"],
            note=data["note"],
            reset_score=data["reset_score"],
        )
    except handoffs.HandoffError as exc:
        messages.error(request, str(exc))
        return redirect("scoring:handoff_detail", pk=pk)
    messages.success(request, _("Sent back to nurturing."))
    return redirect("scoring:handoff_queue")


@nav_area("scoring")
@require_capability(Capability.SCORING_CONFIGURE)
def backtest(request: HttpRequest) -> HttpResponse:
    settings = MqlSettings.load()
    form = BacktestForm(
        request.GET or None,
        initial={
            "min_behaviour": settings.min_behaviour,
            "min_grade": settings.min_grade,
            "rules": BehaviourRule.objects.filter(is_active=True),
        },
    )
    results = None
    if request.GET and form.is_valid():
        data = form.cleaned_data
        with transaction.atomic():
            candidate = backtesting.run(
                rules=list(data["rules"]),
                days=data["days"],
                threshold=data["min_behaviour"],
                min_grade=data["min_grade"],
            )
            current = backtesting.run(
                rules=list(BehaviourRule.objects.filter(is_active=True)),
                days=data["days"],
                threshold=settings.min_behaviour,
                min_grade=settings.min_grade,
            )
        results = [(_("Candidate"), candidate), (_("Current rules"), current)]
    return render(request, "scoring/backtest.html", {"form": form, "results": results})


@require_capability(Capability.CRM_VIEW)
def contact_score(request: HttpRequest, pk: int) -> HttpResponse:
    """The contact page's panel: scores, grade, and every ledger row that makes them."""
    contact = get_contact_for_user(request.user, pk)
    limit = request.GET.get("limit", "")
    limit = min(int(limit), 1000) if limit.isdigit() and int(limit) > 0 else 100
    lines, more = queries.explanation(contact.pk, limit=limit)
    context = {
        "contact": contact,
        "score": queries.score_of(contact.pk),
        "lines": lines,
        "more": more,
        "live_total": sum(line.live_points for line in lines) if not more else None,
        "handoff": Handoff.objects.filter(contact=contact)
        .select_related("owner")
        .order_by("-assigned_at", "-pk")
        .first(),
    }
    return render(request, "scoring/partials/contact_score.html", context)
