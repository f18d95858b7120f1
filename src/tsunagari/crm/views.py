"""Contact and account pages: lists, details, edit forms, lifecycle, consent, merge, trash."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Page, Paginator
from django.db import IntegrityError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from tsunagari.core.access import nav_area, require_capability
from tsunagari.core.models import User
from tsunagari.core.roles import Capability
from tsunagari.crm import queries, services
from tsunagari.crm.choices import (
    AbmTier,
    AccountLifecycle,
    ConsentState,
    Industry,
    LifecycleStage,
    Prefecture,
)
from tsunagari.crm.forms import (
    AccountForm,
    ConsentForm,
    ContactForm,
    CustomFieldForm,
    LifecycleForm,
)
from tsunagari.crm.models import LIVE, Account, Contact, ContactMerge, CustomField
from tsunagari.crm.panels import ACCOUNT_PANELS, CONTACT_PANELS


class CappedPaginator(Paginator):
    """A paginator whose count stops at COUNT_CAP, so page 1 of a million rows stays fast."""

    def __init__(self, object_list, per_page: int) -> None:
        super().__init__(object_list, per_page)
        self._capped = queries.capped_count(object_list)

    @property
    def count(self) -> int:
        return self._capped[0]

    @property
    def is_capped(self) -> bool:
        return self._capped[1]


def _page(request: HttpRequest, qs) -> tuple[Page, CappedPaginator]:
    paginator = CappedPaginator(qs, queries.PAGE_SIZE)
    return paginator.get_page(request.GET.get("page")), paginator


def _list_response(request: HttpRequest, full: str, partial: str, context: dict) -> HttpResponse:
    """htmx asks for the table alone when a filter changes; a normal request gets the page."""
    template = partial if request.htmx and not request.htmx.boosted else full
    return render(request, template, context)


def _querystring_without_page(request: HttpRequest) -> str:
    params = request.GET.copy()
    params.pop("page", None)
    return params.urlencode()


@nav_area("contacts")
@require_capability(Capability.CRM_VIEW)
def contact_list(request: HttpRequest) -> HttpResponse:
    f = queries.contact_filter_from(request.GET)
    page, paginator = _page(request, queries.contact_list_results(f))
    context = {
        "filter": f,
        "page": page,
        "paginator": paginator,
        "query": _querystring_without_page(request),
        "stages": LifecycleStage.choices,
        "consent_states": ConsentState.choices,
        "owners": User.objects.filter(is_active=True),
        "sorts": [
            ("-created", _("Newest")),
            ("created", _("Oldest")),
            ("name", _("Name (kana)")),
            ("-activity", _("Last activity")),
        ],
        "can_edit": request.user.can(Capability.CRM_EDIT),
        "can_export": request.user.can(Capability.CRM_EXPORT),
    }
    return _list_response(
        request, "crm/contact_list.html", "crm/partials/contact_table.html", context
    )


@nav_area("accounts")
@require_capability(Capability.CRM_VIEW)
def account_list(request: HttpRequest) -> HttpResponse:
    f = queries.account_filter_from(request.GET)
    page, paginator = _page(request, queries.accounts_matching(f))
    context = {
        "filter": f,
        "page": page,
        "paginator": paginator,
        "query": _querystring_without_page(request),
        "lifecycles": AccountLifecycle.choices,
        "industries": Industry.choices,
        "prefectures": Prefecture.choices,
        "tiers": [t for t in AbmTier.choices if t[0]],
        "owners": User.objects.filter(is_active=True),
        "sorts": [
            ("-created", _("Newest")),
            ("name", _("Name")),
            ("-employees", _("Employees")),
            ("-revenue", _("Revenue")),
        ],
        "can_edit": request.user.can(Capability.CRM_EDIT),
        "can_export": request.user.can(Capability.CRM_EXPORT),
    }
    return _list_response(
        request, "crm/account_list.html", "crm/partials/account_table.html", context
    )


def _custom_rows(object_type: str, values: dict) -> list[tuple[str, object]]:
    definitions = CustomField.objects.filter(object_type=object_type, is_active=True)
    return [(d.label, values.get(d.key)) for d in definitions]


@nav_area("contacts")
@require_capability(Capability.CRM_VIEW)
def contact_detail(request: HttpRequest, pk: int) -> HttpResponse:
    contact = queries.get_contact_for_user(request.user, pk)
    context = {
        "contact": contact,
        "custom_rows": _custom_rows(CustomField.Object.CONTACT, contact.custom),
        "transitions": contact.transitions.select_related("actor")[:50],
        "consents": contact.consents.select_related("recorded_by")[:50],
        "tags": contact.tags.all(),
        "lifecycle_form": LifecycleForm(initial={"to_stage": contact.lifecycle_stage}),
        "consent_form": ConsentForm(),
        "can_edit": request.user.can(Capability.CRM_EDIT),
        "can_merge": request.user.can(Capability.CRM_MERGE),
        "panels": CONTACT_PANELS,
    }
    return render(request, "crm/contact_detail.html", context)


@nav_area("contacts")
@require_capability(Capability.CRM_EDIT)
@require_http_methods(["GET", "POST"])
def contact_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    contact = queries.get_contact_for_user(request.user, pk) if pk else Contact()
    initial = {}
    if not pk and request.GET.get("account"):
        initial["account"] = request.GET["account"]
    form = ContactForm(request.POST or None, instance=contact, initial=initial)
    if request.method == "POST" and form.is_valid():
        instance = form.save(commit=False)
        instance.custom = form.custom_values
        services.contact_stamp_bant(instance, form.changed_data, f"staff:{request.user.username}")
        try:
            services.contact_save(
                contact=instance, actor=request.user, source="ui", tags=form.tag_names()
            )
        except IntegrityError:
            form.add_error("email", _("Another contact already has this address."))
        else:
            messages.success(request, _("Saved."))
            return redirect("crm:contact_detail", pk=instance.pk)
    account = form["account"].value()
    context = {
        "form": form,
        "contact": contact,
        "current_account": Account.objects.filter(LIVE, pk=account).first()
        if str(account or "").isdigit()
        else None,
        "cancel_url": reverse("crm:contact_detail", args=[pk])
        if pk
        else reverse("crm:contact_list"),
    }
    return render(request, "crm/contact_form.html", context)


@require_capability(Capability.CRM_EDIT)
@require_POST
def contact_lifecycle(request: HttpRequest, pk: int) -> HttpResponse:
    contact = queries.get_contact_for_user(request.user, pk)
    form = LifecycleForm(request.POST)
    if form.is_valid():
        changed = services.contact_set_lifecycle(
            contact=contact,
            to_stage=form.cleaned_data["to_stage"],
            actor=request.user,
            rule="manual",
            reason=form.cleaned_data["reason"],
        )
        if changed:
            messages.success(request, _("Lifecycle stage changed."))
    else:
        messages.error(request, _("Choose a lifecycle stage."))
    return redirect("crm:contact_detail", pk=pk)


@require_capability(Capability.CRM_EDIT)
@require_POST
def contact_consent(request: HttpRequest, pk: int) -> HttpResponse:
    contact = queries.get_contact_for_user(request.user, pk)
    form = ConsentForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        services.consent_record(
            contact=contact,
            channel=data["channel"],
            action=data["action"],
            method=data["method"],
            basis=data["basis"],
            consent_text=data["consent_text"],
            source="staff",
            actor=request.user,
        )
        messages.success(request, _("Consent recorded."))
    else:
        for error in form.errors.get("__all__", []) or [_("Fill in the consent form.")]:
            messages.error(request, error)
    return redirect("crm:contact_detail", pk=pk)


def _merge_page(
    request: HttpRequest, keep, *, search, merge, template: str, done: str, detail: str
):
    """Pick the duplicate, compare both side by side, confirm: the duplicate folds into `keep`."""
    other_id = request.POST.get("other") or request.GET.get("other")
    other = None
    candidates: list = []
    q = request.GET.get("q", "").strip()
    if other_id and str(other_id).isdigit():
        other = type(keep).objects.filter(LIVE, pk=other_id).exclude(pk=keep.pk).first()
    elif q:
        candidates = list(search(q).exclude(pk=keep.pk)[:20])
    if request.method == "POST" and other is not None:
        merged = merge(keep=keep, drop=other, actor=request.user)
        messages.success(request, done)
        return redirect(detail, pk=merged.pk)
    return render(
        request, template, {"keep": keep, "other": other, "candidates": candidates, "q": q}
    )


@nav_area("contacts")
@require_capability(Capability.CRM_MERGE)
@require_http_methods(["GET", "POST"])
def contact_merge(request: HttpRequest, pk: int) -> HttpResponse:
    return _merge_page(
        request,
        queries.get_contact_for_user(request.user, pk),
        search=lambda q: queries.contacts_matching(queries.ContactFilter(q=q)).select_related(
            "account"
        ),
        merge=services.contact_merge,
        template="crm/contact_merge.html",
        done=_("The two contacts are now one; all history was kept."),
        detail="crm:contact_detail",
    )


@require_capability(Capability.CRM_EDIT)
@require_POST
def contact_delete(request: HttpRequest, pk: int) -> HttpResponse:
    contact = queries.get_contact_for_user(request.user, pk)
    services.contact_delete(contact=contact, actor=request.user)
    messages.success(
        request,
        _("%(name)s moved to the trash. You can restore it from there.") % {"name": contact},
    )
    return redirect("crm:contact_list")


@nav_area("contacts")
@require_capability(Capability.CRM_EDIT)
def contact_trash(request: HttpRequest) -> HttpResponse:
    """Deleted contacts, newest first; contacts merged into another are history, not trash."""
    qs = (
        Contact.objects.filter(deleted_at__isnull=False)
        .exclude(pk__in=ContactMerge.objects.values("dropped_id"))
        .select_related("account")
        .order_by("-deleted_at", "-id")
    )
    page, paginator = _page(request, qs)
    return render(request, "crm/contact_trash.html", {"page": page, "paginator": paginator})


@require_capability(Capability.CRM_EDIT)
@require_POST
def contact_restore(request: HttpRequest, pk: int) -> HttpResponse:
    contact = get_object_or_404(Contact, pk=pk, deleted_at__isnull=False)
    try:
        services.contact_restore(contact=contact, actor=request.user)
    except services.CrmError as exc:
        messages.error(request, str(exc))
        return redirect("crm:contact_trash")
    messages.success(request, _("Restored."))
    return redirect("crm:contact_detail", pk=pk)


@nav_area("accounts")
@require_capability(Capability.CRM_VIEW)
def account_detail(request: HttpRequest, pk: int) -> HttpResponse:
    account = queries.get_account_for_user(request.user, pk)
    contacts = Contact.objects.filter(LIVE, account=account).order_by("-id")
    page, paginator = _page(request, contacts)
    context = {
        "account": account,
        "domains": account.domains.all(),
        "custom_rows": _custom_rows(CustomField.Object.ACCOUNT, account.custom),
        "page": page,
        "paginator": paginator,
        "can_edit": request.user.can(Capability.CRM_EDIT),
        "can_merge": request.user.can(Capability.CRM_MERGE),
        "panels": ACCOUNT_PANELS,
    }
    return render(request, "crm/account_detail.html", context)


@nav_area("accounts")
@require_capability(Capability.CRM_EDIT)
@require_http_methods(["GET", "POST"])
def account_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    account = queries.get_account_for_user(request.user, pk) if pk else Account()
    form = AccountForm(request.POST or None, instance=account)
    if request.method == "POST" and form.is_valid():
        instance = form.save(commit=False)
        instance.custom = form.custom_values
        try:
            services.account_save(
                account=instance, domains=form.cleaned_data["domains_text"], actor=request.user
            )
        except IntegrityError:
            form.add_error("corporate_number", _("Another account already has this number."))
        else:
            messages.success(request, _("Saved."))
            return redirect("crm:account_detail", pk=instance.pk)
    title = str(account) if pk else _("New account")
    cancel = reverse("crm:account_detail", args=[pk]) if pk else reverse("crm:account_list")
    return render(request, "core/form.html", {"form": form, "title": title, "cancel_url": cancel})


@nav_area("accounts")
@require_capability(Capability.CRM_MERGE)
@require_http_methods(["GET", "POST"])
def account_merge(request: HttpRequest, pk: int) -> HttpResponse:
    return _merge_page(
        request,
        queries.get_account_for_user(request.user, pk),
        search=lambda q: queries.accounts_matching(queries.AccountFilter(q=q)),
        merge=services.account_merge,
        template="crm/account_merge.html",
        done=_("The two accounts are now one; all contacts moved."),
        detail="crm:account_detail",
    )


@nav_area("settings")
@require_capability(Capability.CRM_VIEW)
def customfield_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "crm/customfield_list.html",
        {
            "fields": CustomField.objects.all(),
            "can_configure": request.user.can(Capability.CRM_CONFIGURE),
        },
    )


@nav_area("settings")
@require_capability(Capability.CRM_CONFIGURE)
@require_http_methods(["GET", "POST"])
def customfield_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    definition = get_object_or_404(CustomField, pk=pk) if pk else CustomField()
    form = CustomFieldForm(request.POST or None, instance=definition)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("Saved."))
        return redirect("crm:customfield_list")
    title = str(definition) if pk else _("New custom field")
    return render(
        request,
        "core/form.html",
        {"form": form, "title": title, "cancel_url": reverse("crm:customfield_list")},
    )


@require_capability(Capability.CRM_VIEW)
def account_search(request: HttpRequest) -> HttpResponse:
    """htmx: accounts whose name starts with q, as choices for the contact form."""
    q = request.GET.get("account_query", "").strip()
    accounts = queries.accounts_matching(queries.AccountFilter(q=q, sort="name"))[:10] if q else []
    return render(request, "crm/partials/account_options.html", {"accounts": accounts, "q": q})
