"""Staff pages: forms and their builder, submissions, landing pages with blocks and A/B
variants, the content asset catalogue and report, dynamic content slots."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import reswap, retarget

from tsunagari.core.access import nav_area, require_capability
from tsunagari.core.roles import Capability
from tsunagari.crm.models import Contact
from tsunagari.pages import queries, reports, services
from tsunagari.pages.blocks import BLOCK_TYPES
from tsunagari.pages.dynamic import slot_cache
from tsunagari.pages.forms import (
    AssetForm,
    FieldForm,
    FormSettingsForm,
    NewFormForm,
    NewPageForm,
    PageSettingsForm,
    SlotForm,
    SlotVariantForm,
)
from tsunagari.pages.models import (
    ContentAsset,
    ContentSlot,
    Form,
    FormField,
    FormSubmission,
    LandingPage,
    PageVariant,
    SlotVariant,
)
from tsunagari.pages.services import PagesError

HOME_PAGES = 20  # the newest landing pages on the home page; the rest under "All"
VIEW = Capability.CRM_VIEW
BUILD = Capability.CRM_CONFIGURE  # marketing and admins build forms, pages and content


def _base(request: HttpRequest) -> str:
    return request.build_absolute_uri("/").rstrip("/")


def _paged(request: HttpRequest, qs, per_page: int = queries.PAGE_SIZE):
    return Paginator(qs, per_page).get_page(request.GET.get("page"))


@nav_area("pages")
@require_capability(VIEW)
def index(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "pages/index.html",
        {
            "forms": _paged(request, queries.forms_for_list()),
            "landing_pages": queries.pages_for_list()[:HOME_PAGES],
            "more_pages": queries.pages_for_list().count() > HOME_PAGES,
            "asset_count": ContentAsset.objects.count(),
            "slot_count": ContentSlot.objects.count(),
            "can_build": request.user.can(BUILD),
            "new_form": NewFormForm(),
        },
    )


# --- forms ------------------------------------------------------------------------------------


@nav_area("pages")
@require_capability(BUILD)
@require_POST
def form_create(request: HttpRequest) -> HttpResponse:
    new = NewFormForm(request.POST)
    if not new.is_valid():
        messages.error(request, _("Give the form a name."))
        return redirect("pages:index")
    form = services.form_create(name=new.cleaned_data["name"], actor=request.user)
    return redirect("pages:form_edit", pk=form.pk)


@nav_area("pages")
@require_capability(BUILD)
@require_http_methods(["GET", "POST"])
def form_edit(request: HttpRequest, pk: int) -> HttpResponse:
    form = get_object_or_404(Form, pk=pk)
    settings_form = FormSettingsForm(request.POST or None, instance=form)
    if request.method == "POST" and settings_form.is_valid():
        try:
            services.form_validate(settings_form.instance)
        except PagesError as exc:
            settings_form.add_error("redirect_url", str(exc))
        else:
            settings_form.save()
            messages.success(request, _("The form is saved."))
            return redirect("pages:form_edit", pk=form.pk)
    return render(request, "pages/form_edit.html", _form_context(request, form, settings_form))


def _form_context(request, form: Form, settings_form, field_form=None) -> dict:
    return {
        "form": form,
        "settings_form": settings_form,
        "fields": form.fields.prefetch_related("consent_texts"),
        "field_form": field_form or FieldForm(),
        "targets": FieldForm.target_options(),
        "base": _base(request),
    }


@nav_area("pages")
@require_capability(BUILD)
@require_http_methods(["GET", "POST"])
def field_edit(request: HttpRequest, pk: int, field_pk: int | None = None) -> HttpResponse:
    form = get_object_or_404(Form, pk=pk)
    field = (
        get_object_or_404(FormField, pk=field_pk, form=form) if field_pk else FormField(form=form)
    )
    field_form = FieldForm(request.POST or None, instance=field)
    if request.method == "POST" and field_form.is_valid():
        instance = field_form.save(commit=False)
        try:
            services.field_save(
                field=instance, consent_text=field_form.cleaned_data["consent_text"]
            )
        except PagesError as exc:
            field_form.add_error(None, str(exc))
        else:
            if request.htmx:
                return render(
                    request, "pages/partials/field_list.html", _form_context(request, form, None)
                )
            return redirect("pages:form_edit", pk=form.pk)
    context = {
        "form": form,
        "field": field,
        "field_form": field_form,
        "targets": FieldForm.target_options(),
    }
    if request.htmx:
        # The errors replace the add-field form; htmx swaps only successful answers.
        response = render(request, "pages/partials/field_form.html", context)
        return reswap(retarget(response, "#field-form"), "innerHTML")
    return render(
        request,
        "pages/field_edit.html",
        context,
        status=400 if request.method == "POST" else 200,
    )


@require_capability(BUILD)
@require_POST
def field_delete(request: HttpRequest, pk: int, field_pk: int) -> HttpResponse:
    field = get_object_or_404(FormField, pk=field_pk, form_id=pk)
    try:
        services.field_delete(field=field)
    except PagesError as exc:
        messages.error(request, str(exc))
    return _fields_or_redirect(request, field.form)


@require_capability(BUILD)
@require_POST
def field_move(request: HttpRequest, pk: int, field_pk: int) -> HttpResponse:
    field = get_object_or_404(FormField, pk=field_pk, form_id=pk)
    services.field_move(field=field, up=request.POST.get("dir") == "up")
    return _fields_or_redirect(request, field.form)


def _fields_or_redirect(request: HttpRequest, form: Form) -> HttpResponse:
    if request.htmx:
        return render(request, "pages/partials/field_list.html", _form_context(request, form, None))
    return redirect("pages:form_edit", pk=form.pk)


@nav_area("pages")
@require_capability(VIEW)
def form_submissions(request: HttpRequest, pk: int) -> HttpResponse:
    form = get_object_or_404(Form, pk=pk)
    return render(
        request,
        "pages/submissions.html",
        {"form": form, "page": _paged(request, queries.submissions_of(form))},
    )


# --- landing pages ----------------------------------------------------------------------------


@nav_area("pages")
@require_capability(VIEW)
def page_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "pages/page_list.html",
        {"page": _paged(request, queries.pages_for_list()), "can_build": request.user.can(BUILD)},
    )


@nav_area("pages")
@require_capability(BUILD)
@require_http_methods(["GET", "POST"])
def page_create(request: HttpRequest) -> HttpResponse:
    new = NewPageForm(request.POST or None)
    if request.method == "POST" and new.is_valid():
        try:
            page = services.page_create(
                slug=new.cleaned_data["slug"], title=new.cleaned_data["title"], actor=request.user
            )
        except PagesError as exc:
            new.add_error("slug", str(exc))
        else:
            return redirect("pages:page_edit", pk=page.pk)
    return render(request, "pages/page_create.html", {"new": new})


def _variant(page: LandingPage, key: str | None) -> PageVariant:
    variants = list(page.variants.all())
    return next((v for v in variants if v.key == key), variants[0])


@nav_area("pages")
@require_capability(BUILD)
@require_http_methods(["GET", "POST"])
def page_edit(request: HttpRequest, pk: int) -> HttpResponse:
    page = get_object_or_404(LandingPage, pk=pk)
    settings_form = PageSettingsForm(request.POST or None, instance=page)
    if request.method == "POST" and settings_form.is_valid():
        settings_form.save()
        messages.success(request, _("The page is saved."))
        return redirect("pages:page_edit", pk=page.pk)
    variant = _variant(page, request.GET.get("variant"))
    return render(
        request, "pages/page_edit.html", _page_context(request, page, variant, settings_form)
    )


def _page_context(request, page: LandingPage, variant: PageVariant, settings_form=None) -> dict:
    return {
        "page": page,
        "variant": variant,
        "variants": page.variants.all(),
        "settings_form": settings_form or PageSettingsForm(instance=page),
        "block_types": list(BLOCK_TYPES.items()),
        "forms": Form.objects.filter(is_active=True).order_by("name"),
        "public_url": f"{_base(request)}/p/{page.slug}/",
    }


def _blocks_response(request: HttpRequest, page: LandingPage, variant: PageVariant) -> HttpResponse:
    if request.htmx:
        return render(request, "pages/partials/blocks.html", _page_context(request, page, variant))
    return _to_variant(page, variant.key)


@require_capability(BUILD)
@require_POST
def block_action(request: HttpRequest, pk: int, key: str) -> HttpResponse:
    """Add, change, move or remove one block of one variant's draft."""
    page = get_object_or_404(LandingPage, pk=pk)
    variant = get_object_or_404(PageVariant, page=page, key=key)
    action = request.POST.get("action", "")
    try:
        index = int(request.POST.get("index", "-1"))
    except ValueError:
        index = -1
    try:
        if action == "add":
            services.block_add(variant=variant, kind=request.POST.get("kind", ""))
        elif action == "remove":
            services.block_remove(variant=variant, index=index)
        elif action in {"up", "down"}:
            services.block_move(variant=variant, index=index, up=action == "up")
        elif action == "save":
            values = {
                k: request.POST.get(k, "")
                for k in ("text", "html", "src", "alt", "label", "url", "left", "right", "form_id")
                if k in request.POST
            }
            if "level" in request.POST:
                values["level"] = int(request.POST.get("level") or 2)
            services.block_update(variant=variant, index=index, values=values)
    except PagesError as exc:
        messages.error(request, str(exc))
    variant.refresh_from_db()
    return _blocks_response(request, page, variant)


@require_capability(BUILD)
@require_POST
def variant_action(request: HttpRequest, pk: int) -> HttpResponse:
    page = get_object_or_404(LandingPage, pk=pk)
    action = request.POST.get("action")
    key = request.POST.get("key", "A")
    try:
        if action == "add":
            key = services.variant_add(page=page).key
        elif action == "toggle":
            variant = get_object_or_404(PageVariant, page=page, key=key)
            PageVariant.objects.filter(pk=variant.pk).update(is_active=not variant.is_active)
        elif action == "weight":
            weight = max(1, min(100, int(request.POST.get("weight") or 1)))
            PageVariant.objects.filter(page=page, key=key).update(weight=weight)
        elif action == "publish":
            services.page_publish(page=page)
            messages.success(request, _("Published: visitors now see the current drafts."))
        elif action == "unpublish":
            services.page_unpublish(page=page)
            messages.success(request, _("The page is no longer public."))
    except (PagesError, ValueError) as exc:
        messages.error(request, str(exc))
    return _to_variant(page, key)


def _to_variant(page: LandingPage, key: str) -> HttpResponse:
    return redirect(f"{reverse('pages:page_edit', args=[page.pk])}?{urlencode({'variant': key})}")


# --- content assets ---------------------------------------------------------------------------


@nav_area("pages")
@require_capability(VIEW)
def asset_list(request: HttpRequest) -> HttpResponse:
    days = reports.period_of(request.GET.get("days", reports.DEFAULT_PERIOD))
    report = reports.asset_report_for_page(days)
    return render(
        request,
        "pages/asset_list.html",
        {
            "rows": report.rows,
            "totals": report.totals,
            "as_of": report.as_of,
            "pending": report.pending,
            "days": days,
            "can_build": request.user.can(BUILD),
        },
    )


@nav_area("pages")
@require_capability(BUILD)
@require_http_methods(["GET", "POST"])
def asset_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    asset = get_object_or_404(ContentAsset, pk=pk) if pk else ContentAsset()
    form = AssetForm(request.POST or None, request.FILES or None, instance=asset)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("The asset is saved."))
        return redirect("pages:asset_list")
    return render(request, "pages/asset_edit.html", {"form": form, "asset": asset})


# --- dynamic content --------------------------------------------------------------------------


@nav_area("pages")
@require_capability(VIEW)
def slot_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "pages/slot_list.html",
        {
            "slots": ContentSlot.objects.prefetch_related("variants"),
            "can_build": request.user.can(BUILD),
            "base": _base(request),
        },
    )


@nav_area("pages")
@require_capability(BUILD)
@require_http_methods(["GET", "POST"])
def slot_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    slot = get_object_or_404(ContentSlot, pk=pk) if pk else ContentSlot()
    form = SlotForm(request.POST or None, instance=slot)
    if request.method == "POST" and form.is_valid():
        slot = services.slot_save(slot=form.save(commit=False))
        slot_cache.reload()
        return redirect("pages:slot_edit", pk=slot.pk)
    return render(
        request,
        "pages/slot_edit.html",
        {"form": form, "slot": slot, "variants": slot.variants.all() if slot.pk else []},
    )


@nav_area("pages")
@require_capability(BUILD)
@require_http_methods(["GET", "POST"])
def slot_variant_edit(request: HttpRequest, pk: int, variant_pk: int | None = None) -> HttpResponse:
    slot = get_object_or_404(ContentSlot, pk=pk)
    variant = (
        get_object_or_404(SlotVariant, pk=variant_pk, slot=slot)
        if variant_pk
        else SlotVariant(slot=slot)
    )
    form = SlotVariantForm(request.POST or None, instance=variant)
    if request.method == "POST":
        if request.POST.get("delete") and variant.pk:
            variant.delete()
            slot_cache.reload()
            return redirect("pages:slot_edit", pk=slot.pk)
        if form.is_valid():
            instance = form.save(commit=False)
            instance.rules = form.rules()
            try:
                services.slot_variant_save(variant=instance)
            except PagesError as exc:
                form.add_error(None, str(exc))
            else:
                slot_cache.reload()
                return redirect("pages:slot_edit", pk=slot.pk)
    return render(
        request, "pages/slot_variant_edit.html", {"form": form, "slot": slot, "variant": variant}
    )


@require_capability(VIEW)
def contact_submissions(request: HttpRequest, pk: int) -> HttpResponse:
    """The contact page's panel: this person's last form submissions and what they agreed to."""
    contact = get_object_or_404(Contact, pk=pk)
    submissions = (
        FormSubmission.objects.filter(contact=contact)
        .select_related("form", "landing_page")
        .order_by("-id")[:10]
    )
    return render(
        request,
        "pages/partials/contact_submissions.html",
        {"contact": contact, "submissions": submissions},
    )
