"""Staff pages of deals: the pipeline, create/edit, the deal with its history, stage moves,
and the deal panels of the contact and account pages."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from tsunagari.core.access import nav_area, require_capability
from tsunagari.core.roles import Capability
from tsunagari.crm import queries as crm_queries
from tsunagari.deals import queries, services
from tsunagari.deals.forms import CloseLostForm, DealForm, MoveStageForm
from tsunagari.deals.models import OPEN_STAGES, Stage

VIEW = Capability.CRM_VIEW
EDIT = Capability.CRM_EDIT  # sales roles, marketing and admins; read-only users look only
ACCOUNT_CHOICES = 20


def _query_without_page(request: HttpRequest) -> str:
    params = request.GET.copy()
    params.pop("page", None)
    return params.urlencode()


@nav_area("sales")
@require_capability(VIEW)
def index(request: HttpRequest) -> HttpResponse:
    """The pipeline: filters, count and amount per stage, and a page of deals."""
    f = queries.deal_filter_from(request.GET)
    qs = queries.deals_matching(f)
    totals = queries.stage_totals(qs)
    paginator = Paginator(queries.deals_for_list(qs), queries.PAGE_SIZE)
    paginator.count = sum(t.count for t in totals)  # already counted by the totals
    context = {
        "filter": f,
        "page": paginator.get_page(request.GET.get("page")),
        "paginator": paginator,
        "query": _query_without_page(request),
        "totals": totals,
        "summary": queries.pipeline_summary(totals),
        "stages": Stage.choices,
        "statuses": [("open", _("Open")), ("won", _("Won")), ("lost", _("Lost"))],
        "owners": queries.owners(),
        "can_edit": request.user.can(EDIT),
    }
    partial = request.htmx and not request.htmx.boosted
    template = "deals/partials/results.html" if partial else "deals/index.html"
    return render(request, template, context)


def _choose_account(request: HttpRequest) -> HttpResponse:
    """The first step of a new deal from the pipeline: find its account."""
    q = request.GET.get("q", "").strip()
    accounts = []
    if q:
        accounts = crm_queries.accounts_matching(crm_queries.account_filter_from(request.GET))[
            :ACCOUNT_CHOICES
        ]
    return render(request, "deals/choose_account.html", {"q": q, "accounts": accounts})


@nav_area("sales")
@require_capability(EDIT)
@require_http_methods(["GET", "POST"])
def create(request: HttpRequest) -> HttpResponse:
    try:
        account_id = int(request.GET.get("account", ""))
    except ValueError:
        return _choose_account(request)
    account = crm_queries.get_account_for_user(request.user, account_id)
    initial = {"owner": account.owner_id or request.user.pk, "stage": Stage.QUALIFICATION}
    if request.GET.get("contact", "").isdigit():
        initial["primary_contact"] = int(request.GET["contact"])
    form = DealForm(request.POST or None, account=account, initial=initial)
    if request.method == "POST" and form.is_valid():
        values = form.service_values()
        try:
            deal = services.deal_create(account=account, actor=request.user, **values)
        except services.DealError as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, _("Deal created."))
            return redirect("deals:detail", deal.pk)
    return render(request, "deals/form.html", {"form": form, "account": account, "deal": None})


@nav_area("sales")
@require_capability(VIEW)
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    deal = queries.get_deal_for_user(request.user, pk)
    return render(
        request,
        "deals/detail.html",
        {
            "deal": deal,
            "history": queries.history(deal)[:100],
            "can_edit": request.user.can(EDIT),
            "lost_form": CloseLostForm(),
            "move_form": MoveStageForm(initial={"to_stage": deal.stage}),
            "open_stages": [(v, label) for v, label in Stage.choices if v in OPEN_STAGES],
        },
    )


@nav_area("sales")
@require_capability(EDIT)
@require_http_methods(["GET", "POST"])
def edit(request: HttpRequest, pk: int) -> HttpResponse:
    deal = queries.get_deal_for_user(request.user, pk)
    form = DealForm(request.POST or None, account=deal.account, deal=deal)
    if request.method == "POST" and form.is_valid():
        try:
            services.deal_update(deal=deal, changes=form.service_values(), actor=request.user)
        except services.DealError as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, _("Deal saved."))
            return redirect("deals:detail", deal.pk)
    return render(request, "deals/form.html", {"form": form, "account": deal.account, "deal": deal})


@require_capability(EDIT)
@require_POST
def move_stage(request: HttpRequest, pk: int) -> HttpResponse:
    """Close won, close lost (with a reason), reopen or move to another open stage."""
    deal = queries.get_deal_for_user(request.user, pk)
    form = MoveStageForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a stage."))
        return redirect("deals:detail", deal.pk)
    try:
        services.deal_move_stage(
            deal=deal,
            to_stage=form.cleaned_data["to_stage"],
            actor=request.user,
            note=form.cleaned_data["note"],
            lost_reason=form.cleaned_data["lost_reason"],
            lost_note=form.cleaned_data["lost_note"],
        )
    except services.DealError as exc:
        for problems in exc.message_dict.values():
            for problem in problems:
                messages.error(request, problem)
    else:
        messages.success(request, _("Stage changed."))
    return redirect("deals:detail", deal.pk)


@require_capability(VIEW)
def contact_panel(request: HttpRequest, pk: int) -> HttpResponse:
    """The contact page's deals: those naming the contact as primary contact."""
    contact = crm_queries.get_contact_for_user(request.user, pk)
    deals = queries.deals_for_list(queries.deals_matching(queries.DealFilter(contact=contact.pk)))[
        : queries.PANEL_SIZE
    ]
    return render(
        request,
        "deals/partials/panel.html",
        {
            "deals": deals,
            "new_url_query": f"account={contact.account_id}&contact={contact.pk}"
            if contact.account_id
            else "",
            "list_query": f"contact={contact.pk}",
            "can_edit": request.user.can(EDIT),
        },
    )


@require_capability(VIEW)
def account_panel(request: HttpRequest, pk: int) -> HttpResponse:
    """The account page's deals, with the account's open and won totals."""
    account = crm_queries.get_account_for_user(request.user, pk)
    qs = queries.deals_matching(queries.DealFilter(account=account.pk))
    return render(
        request,
        "deals/partials/panel.html",
        {
            "deals": queries.deals_for_list(qs)[: queries.PANEL_SIZE],
            "summary": queries.pipeline_summary(queries.stage_totals(qs)),
            "new_url_query": f"account={account.pk}",
            "list_query": f"account={account.pk}",
            "can_edit": request.user.can(EDIT),
        },
    )
