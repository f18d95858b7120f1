"""Staff pages of tracking: sites and their snippet, timelines, offline touches, IP ranges."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from tsunagari.core.access import nav_area, require_capability
from tsunagari.core.roles import Capability
from tsunagari.crm.queries import get_account_for_user, get_contact_for_user
from tsunagari.tracking import queries, services
from tsunagari.tracking.forms import CustomTypeForm, IpRangeForm, OfflineTouchForm, TrackedSiteForm
from tsunagari.tracking.models import CustomTouchpointType, IpRange, TrackedSite
from tsunagari.tracking.vocabulary import Channel


@nav_area("tracking")
@require_capability(Capability.CRM_VIEW)
def site_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "tracking/site_list.html",
        {
            "sites": TrackedSite.objects.order_by("origin"),
            "ranges": IpRange.objects.select_related("account").order_by("cidr")[:200],
            "types": CustomTouchpointType.objects.order_by("label"),
            "snippet_base": request.build_absolute_uri("/").rstrip("/"),
            "collect_base": settings.TSUNAGARI_COLLECT_URL,
            "can_configure": request.user.can(Capability.CRM_CONFIGURE),
        },
    )


@nav_area("tracking")
@require_capability(Capability.CRM_CONFIGURE)
@require_http_methods(["GET", "POST"])
def site_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    site = get_object_or_404(TrackedSite, pk=pk) if pk else TrackedSite()
    form = TrackedSiteForm(request.POST or None, instance=site)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("Saved. Paste the snippet into every page of the site."))
        return redirect("tracking:site_list")
    return render(
        request,
        "core/form.html",
        {
            "form": form,
            "title": str(site) if pk else _("Register a website"),
            "cancel_url": reverse("tracking:site_list"),
        },
    )


@nav_area("tracking")
@require_capability(Capability.CRM_CONFIGURE)
@require_http_methods(["GET", "POST"])
def ip_range_create(request: HttpRequest) -> HttpResponse:
    form = IpRangeForm(request.POST or None, initial={"account": request.GET.get("account")})
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("Saved."))
        return redirect("tracking:site_list")
    return render(
        request,
        "core/form.html",
        {"form": form, "title": _("Company IP range"), "cancel_url": reverse("tracking:site_list")},
    )


@nav_area("tracking")
@require_capability(Capability.CRM_CONFIGURE)
@require_http_methods(["GET", "POST"])
def custom_type_create(request: HttpRequest) -> HttpResponse:
    form = CustomTypeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("Saved."))
        return redirect("tracking:site_list")
    return render(
        request,
        "core/form.html",
        {
            "form": form,
            "title": _("Custom touchpoint type"),
            "cancel_url": reverse("tracking:site_list"),
        },
    )


def _timeline(request: HttpRequest, qs, context: dict) -> HttpResponse:
    f = queries.timeline_filter_from(request.GET)
    rows, cursor = queries.timeline_page(qs, f)
    types = queries.type_choices()
    params = request.GET.copy()
    params.pop("before", None)
    context.update(
        {
            "rows": rows,
            "cursor": cursor,
            "filter": f,
            "query": params.urlencode(),
            "channels": Channel.choices,
            "types": types,
            "labels": dict(types),
            "periods": [
                ("7d", _("7 days")),
                ("30d", _("30 days")),
                ("90d", _("90 days")),
                ("365d", _("1 year")),
            ],
            "is_more": bool(f.before),
        }
    )
    template = (
        "tracking/partials/timeline_rows.html" if f.before else "tracking/partials/timeline.html"
    )
    return render(request, template, context)


@require_capability(Capability.CRM_VIEW)
def contact_timeline(request: HttpRequest, pk: int) -> HttpResponse:
    contact = get_contact_for_user(request.user, pk)
    return _timeline(
        request,
        queries.contact_touchpoints(contact.pk),
        {
            "url": reverse("tracking:contact_timeline", args=[contact.pk]),
            "touch_form": OfflineTouchForm() if request.user.can(Capability.CRM_EDIT) else None,
            "touch_url": reverse("tracking:touch_create", args=[contact.pk]),
            "show_contact": False,
        },
    )


@require_capability(Capability.CRM_VIEW)
def account_timeline(request: HttpRequest, pk: int) -> HttpResponse:
    account = get_account_for_user(request.user, pk)
    return _timeline(
        request,
        queries.account_touchpoints(account.pk),
        {
            "url": reverse("tracking:account_timeline", args=[account.pk]),
            "anonymous_visitors": queries.anonymous_visitors_of_account(account.pk),
            "show_contact": True,
        },
    )


@require_capability(Capability.CRM_EDIT)
@require_POST
def touch_create(request: HttpRequest, pk: int) -> HttpResponse:
    contact = get_contact_for_user(request.user, pk)
    form = OfflineTouchForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.touch_record_offline(
                contact=contact,
                type_key=data["type"],
                occurred_at=data["occurred_at"],
                actor=request.user,
                title=data["title"],
                note=data["note"],
                campaign=data["campaign"],
            )
        except services.TrackingError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, _("Recorded on the timeline."))
    else:
        for field, errors in form.errors.items():
            messages.error(
                request,
                f"{form.fields[field].label if field in form.fields else ''}: {' '.join(errors)}",
            )
    return redirect("crm:contact_detail", pk=pk)
