"""Segment pages: the list with sizes and growth, the builder, a segment's members and history."""

from __future__ import annotations

import csv
import io

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from tsunagari.core.access import nav_area, require_capability
from tsunagari.core.roles import Capability
from tsunagari.crm.models import Contact
from tsunagari.crm.queries import get_contact_for_user
from tsunagari.segments import builder as b
from tsunagari.segments import queries, services
from tsunagari.segments.language import DefinitionError
from tsunagari.segments.models import Segment

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_PASTED = 10_000


@nav_area("segments")
@require_capability(Capability.CRM_VIEW)
def index(request: HttpRequest) -> HttpResponse:
    segments = list(queries.live_segments())
    context = {
        "rows": queries.with_growth(segments),
        "can_edit": request.user.can(Capability.CRM_EDIT),
    }
    return render(request, "segments/segment_list.html", context)


@require_capability(Capability.CRM_VIEW)
def contact_panel(request: HttpRequest, pk: int) -> HttpResponse:
    """The contact page's panel: the segments and lists the contact is in, and past stays."""
    contact = get_contact_for_user(request.user, pk)
    stays = queries.contact_stays(contact)
    return render(request, "segments/partials/contact_panel.html", {"stays": stays})


def _builder_context(draft: dict, segment: Segment | None) -> dict:
    """The tree with its errors, and the live count and sample when the definition is valid."""
    definition, paths = b.definition_from_draft(draft)
    errors: dict[str, list[str]] = {}
    result, problem = None, ""
    segment_id = segment.pk if segment and segment.pk else None
    try:
        result = services.segment_preview(definition, segment_id=segment_id)
    except DefinitionError as exc:
        errors = b.errors_by_form_path(exc.problems, paths)
        problem = _("Complete or correct the highlighted conditions to see the count.")
    except services.SegmentTimeout:
        problem = _("Counting took too long; narrow the filter (for example a shorter window).")
    return {
        "tree": b.node_views(draft, errors),
        "catalogue": b.catalogue(),
        "definition_json": b.pretty(definition),
        "preview": result,
        "problem": problem,
        "segment": segment,
        "other_segments": queries.live_segments().exclude(pk=segment_id or 0),
    }


@nav_area("segments")
@require_capability(Capability.CRM_EDIT)
@require_POST
def builder(request: HttpRequest) -> HttpResponse:
    """htmx: apply an add/remove action or a changed input, answer with the builder again."""
    draft = b.draft_from_form(request.POST)
    action = request.POST.get("action", "")
    if action:
        draft = b.apply_action(draft, action)
    segment = None
    segment_id = request.POST.get("segment_id", "")
    if segment_id.isdigit():
        segment = queries.get_segment_for_user(request.user, int(segment_id))
    context = _builder_context(draft, segment)
    return render(request, "segments/partials/builder.html", context)


@nav_area("segments")
@require_capability(Capability.CRM_EDIT)
@require_http_methods(["GET", "POST"])
def segment_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    if pk:
        segment = queries.get_segment_for_user(request.user, pk)
    else:
        kind = request.POST.get("kind") or request.GET.get("kind") or Segment.Kind.DYNAMIC
        segment = Segment(kind=kind if kind in Segment.Kind.values else Segment.Kind.DYNAMIC)
    draft = b.draft_from_definition(segment.definition)
    name, description = segment.name, segment.description
    form_errors: list[str] = []
    status = 200
    if request.method == "POST":
        name = request.POST.get("name", "")
        description = request.POST.get("description", "")
        draft = b.draft_from_form(request.POST)
        definition, _paths = b.definition_from_draft(draft)
        try:
            services.segment_save(
                segment=segment,
                name=name,
                description=description,
                definition=definition,
                actor=request.user,
            )
        except DefinitionError as exc:
            status = 422
            form_errors = [m for p, m in exc.problems if p == "name"]
        else:
            if segment.kind == Segment.Kind.DYNAMIC:
                try:
                    services.segment_refresh(segment, timeout=services.REFRESH_TIMEOUT_S)
                except services.SegmentTimeout:
                    messages.warning(request, _("Saved; the worker will compute its members."))
            messages.success(request, _("Segment saved."))
            return redirect("segments:detail", segment.pk)
    context = {
        "name": name,
        "description": description,
        "form_errors": form_errors,
        "is_static": segment.kind == Segment.Kind.STATIC,
        **_builder_context(draft, segment if segment.pk else None),
    }
    context["segment"] = segment
    return render(request, "segments/segment_form.html", context, status=status)


@nav_area("segments")
@require_capability(Capability.CRM_VIEW)
def segment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    segment = queries.get_segment_for_user(request.user, pk)
    members = queries.segment_members(segment).select_related("account").order_by("-id")
    q = request.GET.get("q", "").strip()
    if q:
        members = members.filter(
            Q(email__icontains=q) | Q(family_name__contains=q) | Q(account__name__contains=q)
        )
    page = Paginator(members, queries.PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "segment": segment,
        "page": page,
        "q": q,
        "history": queries.size_history(segment),
        "recent": queries.recent_changes(segment),
        "definition_json": b.pretty(segment.definition) if segment.definition else "",
        "referring": services.referring_segments(segment),
        "can_edit": request.user.can(Capability.CRM_EDIT),
    }
    return render(request, "segments/segment_detail.html", context)


@require_capability(Capability.CRM_EDIT)
@require_POST
def segment_refresh_view(request: HttpRequest, pk: int) -> HttpResponse:
    segment = queries.get_segment_for_user(request.user, pk)
    try:
        result = services.segment_refresh(segment, timeout=services.REFRESH_TIMEOUT_S)
    except DefinitionError as exc:
        messages.error(request, str(exc))
    except services.SegmentTimeout:
        messages.error(request, _("The refresh took too long; the worker will retry."))
    else:
        messages.success(
            request,
            _("Refreshed: %(size)s members, %(entered)s entered, %(exited)s left.")
            % {"size": result.size, "entered": result.entered_count, "exited": result.exited_count},
        )
    return redirect("segments:detail", segment.pk)


@require_capability(Capability.CRM_EDIT)
@require_POST
def segment_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    segment = queries.get_segment_for_user(request.user, pk)
    referring = services.referring_segments(segment)
    if referring:
        names = ", ".join(s.name for s in referring)
        messages.error(request, _("Used by other segments: %(names)s.") % {"names": names})
        return redirect("segments:detail", segment.pk)
    services.segment_delete(segment=segment)
    messages.success(request, _("Segment deleted."))
    return redirect("segments:index")


def _contacts_for(values: list[str]) -> tuple[set[int], list[str]]:
    """Live contact ids for emails or ids as people paste or upload them; what was not found."""
    emails = {v.strip().lower() for v in values if "@" in v}
    ids = {int(v) for v in values if v.strip().isdigit()}
    found: set[int] = set()
    known_emails: set[str] = set()
    email_list = sorted(emails)
    for start in range(0, len(email_list), 500):
        chunk = email_list[start : start + 500]
        for pk, email in Contact.objects.filter(
            deleted_at__isnull=True, email__in=chunk
        ).values_list("pk", "email"):
            found.add(pk)
            known_emails.add(email.lower())
    id_list = sorted(ids)
    known_ids: set[int] = set()
    for start in range(0, len(id_list), 500):
        chunk = id_list[start : start + 500]
        known_ids |= set(
            Contact.objects.filter(deleted_at__isnull=True, pk__in=chunk).values_list(
                "pk", flat=True
            )
        )
    found |= known_ids
    missing = sorted(emails - known_emails) + [str(i) for i in sorted(ids - known_ids)]
    return found, missing


def _static_segment(request: HttpRequest, pk: int) -> Segment:
    segment = queries.get_segment_for_user(request.user, pk)
    if segment.kind != Segment.Kind.STATIC:
        raise DefinitionError([("", _("Contacts are added by hand only to static lists."))])
    return segment


def _report(request: HttpRequest, entered: list[int], found: set[int], missing: list[str]) -> None:
    messages.success(
        request,
        _("%(added)s added, %(already)s already in the list.")
        % {"added": len(entered), "already": len(found) - len(entered)},
    )
    if missing:
        shown = ", ".join(missing[:20]) + (" …" if len(missing) > 20 else "")
        messages.warning(
            request,
            _("%(n)s not found: %(list)s") % {"n": len(missing), "list": shown},
        )


@require_capability(Capability.CRM_EDIT)
@require_POST
def static_add_view(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        segment = _static_segment(request, pk)
    except DefinitionError as exc:
        messages.error(request, str(exc.problems[0][1]))
        return redirect("segments:detail", pk)
    text = request.POST.get("contacts", "")
    values = [v for v in text.replace(",", "\n").split() if v][:MAX_PASTED]
    found, missing = _contacts_for(values)
    entered = services.static_add(segment, found, source="manual")
    _report(request, entered, found, missing)
    return redirect("segments:detail", segment.pk)


@require_capability(Capability.CRM_EDIT)
@require_POST
def static_remove_view(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        segment = _static_segment(request, pk)
    except DefinitionError as exc:
        messages.error(request, str(exc.problems[0][1]))
        return redirect("segments:detail", pk)
    ids = [int(v) for v in request.POST.getlist("contact") if v.isdigit()]
    exited = services.static_remove(segment, ids, source="manual")
    messages.success(request, _("%(n)s removed.") % {"n": len(exited)})
    return redirect("segments:detail", segment.pk)


def _decode(raw: bytes) -> str:
    for encoding in ("utf-8-sig", "cp932"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ValueError


@require_capability(Capability.CRM_EDIT)
@require_POST
def static_upload_view(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        segment = _static_segment(request, pk)
    except DefinitionError as exc:
        messages.error(request, str(exc.problems[0][1]))
        return redirect("segments:detail", pk)
    upload = request.FILES.get("file")
    if upload is None or upload.size == 0:
        messages.error(request, _("Choose a CSV file."))
        return redirect("segments:detail", segment.pk)
    if upload.size > MAX_UPLOAD_BYTES:
        messages.error(request, _("The file is larger than 5 MB."))
        return redirect("segments:detail", segment.pk)
    try:
        text = _decode(upload.read())
    except ValueError:
        messages.error(request, _("The file is not UTF-8 or Shift_JIS text."))
        return redirect("segments:detail", segment.pk)
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        messages.error(request, _("The file is empty."))
        return redirect("segments:detail", segment.pk)
    header = [h.strip().lower() for h in rows[0]]
    column = next(
        (i for i, h in enumerate(header) if h in ("email", "メール", "メールアドレス")), None
    )
    column = (
        column if column is not None else next((i for i, h in enumerate(header) if h == "id"), 0)
    )
    has_header = any(h in ("email", "メール", "メールアドレス", "id") for h in header)
    data = rows[1:] if has_header else rows
    values = [row[column].strip() for row in data if len(row) > column and row[column].strip()]
    found, missing = _contacts_for(values[: MAX_PASTED * 10])
    entered = services.static_add(segment, found, source=f"csv:{upload.name}"[:100])
    _report(request, entered, found, missing)
    return redirect("segments:detail", segment.pk)
