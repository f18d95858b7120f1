"""Journey pages: the list, the editor (graph rendered server-side, htmx step editing),
publish/pause/resume, the dry-run estimate, the report and CSV enrolment."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from tsunagari.core.access import nav_area, require_capability
from tsunagari.core.roles import Capability
from tsunagari.journeys import queries, services, streams
from tsunagari.journeys.forms import (
    WEEKDAYS,
    CsvForm,
    JourneyForm,
    StepForm,
    StreamForm,
    StreamItemForm,
)
from tsunagari.journeys.models import Journey, Stream, StreamItem
from tsunagari.mail.models import Template

VIEW = Capability.MAIL_VIEW
EDIT = Capability.MAIL_SEND


@nav_area("journeys")
@require_capability(VIEW)
def index(request: HttpRequest) -> HttpResponse:
    page = Paginator(queries.journeys_list(), queries.PAGE_SIZE).get_page(request.GET.get("page"))
    counts = queries.family_counts([j.family_id for j in page.object_list])
    rows = [(j, counts.get(j.family_id, {})) for j in page.object_list]
    return render(
        request,
        "journeys/index.html",
        {
            "page": page,
            "paginator": page.paginator,
            "rows": rows,
            "can_edit": request.user.can(EDIT),
        },
    )


def _journey_form(request: HttpRequest, initial: dict, journey: Journey | None) -> JourneyForm:
    """The settings form; a POST with `refresh` or `add_exit` only re-renders it (htmx)."""
    if request.method == "POST" and ("refresh" in request.POST or "add_exit" in request.POST):
        return JourneyForm(
            initial=request.POST.dict(),
            journey=journey,
            add_exit="add_exit" in request.POST,
            rerender_url=request.path,
        )
    return JourneyForm(
        request.POST or None,
        initial=initial,
        journey=journey,
        exit_conditions=journey.exit_conditions if journey is not None else [],
        rerender_url=request.path,
    )


@nav_area("journeys")
@require_capability(EDIT)
@require_http_methods(["GET", "POST"])
def journey_new(request: HttpRequest) -> HttpResponse:
    form = _journey_form(request, {"trigger_type": "manual", "reentry": "never"}, None)
    if form.is_bound and form.is_valid():
        journey = form.apply(Journey(name=form.cleaned_data["name"]))
        journey = services.journey_create(
            name=journey.name,
            description=journey.description,
            trigger=journey.trigger,
            goal=journey.goal,
            exit_conditions=journey.exit_conditions,
            reentry=journey.reentry,
            reentry_days=journey.reentry_days,
            actor=request.user,
        )
        messages.success(request, _("Journey created. Add its steps, then publish it."))
        return redirect("journeys:detail", pk=journey.pk)
    return render(request, "journeys/journey_form.html", {"form": form})


def _context(request: HttpRequest, journey: Journey) -> dict:
    counts = queries.step_counts(journey)
    return {
        "journey": journey,
        "nodes": queries.tree(journey, counts),
        "problems": queries.problems_by_step(journey),
        "all_problems": services.journey_problems(journey),
        "versions": Journey.objects.filter(family_id=journey.family_id).order_by("-version"),
        "can_edit": request.user.can(EDIT),
        "editable": journey.status == Journey.Status.DRAFT,
    }


@nav_area("journeys")
@require_capability(VIEW)
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    journey = get_object_or_404(Journey, pk=pk)
    return render(request, "journeys/detail.html", _context(request, journey))


@nav_area("journeys")
@require_capability(EDIT)
@require_http_methods(["GET", "POST"])
def settings_edit(request: HttpRequest, pk: int) -> HttpResponse:
    journey = get_object_or_404(Journey, pk=pk, status=Journey.Status.DRAFT)
    form = _journey_form(request, JourneyForm.initial_for(journey), journey)
    if form.is_bound and form.is_valid():
        form.apply(journey).save()
        messages.success(request, _("Saved."))
        return redirect("journeys:detail", pk=journey.pk)
    return render(request, "journeys/journey_form.html", {"form": form, "journey": journey})


@nav_area("journeys")
@require_capability(EDIT)
@require_http_methods(["GET", "POST"])
def step_edit(request: HttpRequest, pk: int, key: str = "") -> HttpResponse:
    """htmx: the step form in the side panel; on save, the graph re-rendered.

    A GET with `type` re-renders the panel while editing (the type, the wait mode or a
    condition's kind changed, or a condition was added), keeping what was typed.
    """
    journey = get_object_or_404(Journey, pk=pk, status=Journey.Status.DRAFT)
    after = request.GET.get("after", "") or request.POST.get("after", "")
    url = request.path + (f"?after={after}" if after else "")
    step = journey.steps.get(key, {}) if key else {}
    if request.method == "POST":
        form = StepForm(request.POST, journey=journey, rerender_url=url)
    elif "type" in request.GET:
        form = StepForm(
            journey=journey,
            initial=request.GET.dict(),
            add_condition="add_condition" in request.GET,
            rerender_url=url,
        )
    else:
        form = StepForm(
            journey=journey,
            initial=StepForm.initial_for(key, step) if key else {"type": "email"},
            conditions=step.get("conditions", []),
            rerender_url=url,
        )
    if request.method == "POST" and form.is_valid():
        try:
            services.step_save(
                journey=journey,
                old_key=key,
                key=form.cleaned_data["key"],
                step=form.step(),
                after=after,
            )
        except services.JourneyError as exc:
            for message in exc.messages:
                form.add_error("key", message)
        else:
            # The graph replaces itself; the panel is emptied out of band.
            return render(
                request,
                "journeys/partials/graph.html",
                {**_context(request, journey), "clear_panel": True},
            )
    response = render(
        request,
        "journeys/partials/step_form.html",
        {"form": form, "journey": journey, "key": key, "after": after},
    )
    if request.method == "POST":
        # An invalid step stays in the panel with its errors; the graph is left as it was.
        response["HX-Retarget"] = "#step-panel"
        response["HX-Reswap"] = "innerHTML"
    return response


@require_capability(EDIT)
@require_POST
def step_remove(request: HttpRequest, pk: int, key: str) -> HttpResponse:
    journey = get_object_or_404(Journey, pk=pk, status=Journey.Status.DRAFT)
    services.step_remove(journey=journey, key=key)
    if request.htmx:
        return render(request, "journeys/partials/graph.html", _context(request, journey))
    return redirect("journeys:detail", pk=journey.pk)


ACTIONS = {
    "publish": services.journey_publish,
    "pause": services.journey_pause,
    "resume": services.journey_resume,
    "archive": services.journey_archive,
}


@require_capability(EDIT)
@require_POST
def action(request: HttpRequest, pk: int, name: str) -> HttpResponse:
    journey = get_object_or_404(Journey, pk=pk)
    if name == "edit":
        draft = services.journey_edit(journey)
        if draft.pk != journey.pk:
            messages.info(
                request,
                _(
                    "A new version was created. Contacts keep following the live version "
                    "until you publish it."
                ),
            )
        return redirect("journeys:detail", pk=draft.pk)
    if name not in ACTIONS:
        return HttpResponse(status=404)
    try:
        ACTIONS[name](journey=journey)
    except services.JourneyError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        messages.success(request, _("Done."))
    return redirect("journeys:detail", pk=journey.pk)


@nav_area("journeys")
@require_capability(VIEW)
def dry_run(request: HttpRequest, pk: int) -> HttpResponse:
    journey = get_object_or_404(Journey, pk=pk)
    estimate = queries.dry_run(journey)
    nodes = queries.tree(journey)
    return render(
        request, "journeys/dry_run.html", {"journey": journey, "estimate": estimate, "nodes": nodes}
    )


@nav_area("journeys")
@require_capability(VIEW)
def report(request: HttpRequest, pk: int) -> HttpResponse:
    journey = get_object_or_404(Journey, pk=pk)
    return render(
        request,
        "journeys/report.html",
        {
            "journey": journey,
            "report": queries.report(journey),
            "nodes": queries.tree(journey, queries.step_counts(journey)),
        },
    )


@nav_area("journeys")
@require_capability(EDIT)
@require_http_methods(["GET", "POST"])
def enrol_csv(request: HttpRequest, pk: int) -> HttpResponse:
    journey = get_object_or_404(Journey, pk=pk)
    form = CsvForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            entered, missing = services.enrol_csv(
                journey=journey, data=form.cleaned_data["file"].read(), actor=request.user
            )
        except services.JourneyError as exc:
            for message in exc.messages:
                form.add_error("file", message)
        else:
            messages.success(request, _("%(n)d contacts enrolled.") % {"n": entered})
            if missing:
                messages.warning(
                    request,
                    _("%(n)d addresses are not contacts: %(list)s")
                    % {"n": len(missing), "list": ", ".join(missing[:10])},
                )
            return redirect("journeys:detail", pk=journey.pk)
    return render(request, "journeys/enrol_csv.html", {"form": form, "journey": journey})


# --- Nurture streams -------------------------------------------------------------------------


@nav_area("journeys")
@require_capability(VIEW)
def stream_index(request: HttpRequest) -> HttpResponse:
    rows = list(Stream.objects.order_by("name").annotate(n_items=Count("items")))
    counts = streams.stream_counts([s.pk for s in rows])
    return render(
        request,
        "journeys/streams.html",
        {
            "rows": [(s, counts.get(s.pk, {}), cadence(s)) for s in rows],
            "can_edit": request.user.can(EDIT),
        },
    )


def cadence(stream: Stream) -> str:
    """ "Every 2 weeks on Tuesday at 10:00", in the current language."""
    return _("Every %(n)d weeks on %(weekday)s at %(hour)02d:00") % {
        "n": stream.every_weeks,
        "weekday": dict(WEEKDAYS)[stream.weekday],
        "hour": stream.hour,
    }


def _stream_form(request: HttpRequest, stream: Stream) -> tuple[StreamForm, bool]:
    """The cadence form, bound on POST; True when it was saved."""
    initial = {
        "name": stream.name,
        "every_weeks": stream.every_weeks,
        "weekday": stream.weekday,
        "hour": stream.hour,
        "is_active": stream.is_active,
    }
    form = StreamForm(request.POST or None, initial=initial if stream.pk else None)
    if request.method == "POST" and form.is_valid():
        try:
            streams.stream_save(stream=stream, **form.cleaned_data)
        except streams.StreamError as exc:
            form.add_error(exc.field, str(exc))
        else:
            return form, True
    return form, False


@nav_area("journeys")
@require_capability(EDIT)
@require_http_methods(["GET", "POST"])
def stream_new(request: HttpRequest) -> HttpResponse:
    stream = Stream()
    form, saved = _stream_form(request, stream)
    if saved:
        messages.success(request, _("Stream created. Append its content emails."))
        return redirect("journeys:stream", pk=stream.pk)
    return render(request, "journeys/stream_form.html", {"form": form})


def _stream_context(request: HttpRequest, stream: Stream, **extra) -> dict:
    return {
        "stream": stream,
        "cadence": cadence(stream),
        "items": list(stream.items.select_related("template")),
        "counts": streams.stream_counts([stream.pk]).get(stream.pk, {}),
        "can_edit": request.user.can(EDIT),
        "item_form": StreamItemForm(),
        **extra,
    }


@nav_area("journeys")
@require_capability(VIEW)
def stream_detail(request: HttpRequest, pk: int) -> HttpResponse:
    stream = get_object_or_404(Stream, pk=pk)
    return render(request, "journeys/stream.html", _stream_context(request, stream))


@nav_area("journeys")
@require_capability(EDIT)
@require_http_methods(["GET", "POST"])
def stream_edit(request: HttpRequest, pk: int) -> HttpResponse:
    stream = get_object_or_404(Stream, pk=pk)
    form, saved = _stream_form(request, stream)
    if saved:
        messages.success(request, _("Saved."))
        return redirect("journeys:stream", pk=stream.pk)
    return render(request, "journeys/stream_form.html", {"form": form, "stream": stream})


def _items(request: HttpRequest, stream: Stream, **extra) -> HttpResponse:
    """htmx: the items partial; otherwise back to the stream page."""
    if request.htmx:
        return render(
            request,
            "journeys/partials/stream_items.html",
            _stream_context(request, stream, **extra),
        )
    return redirect("journeys:stream", pk=stream.pk)


@require_capability(EDIT)
@require_POST
def stream_append(request: HttpRequest, pk: int) -> HttpResponse:
    stream = get_object_or_404(Stream, pk=pk)
    form = StreamItemForm(request.POST)
    if not form.is_valid():
        if request.htmx:
            return _items(request, stream, item_form=form)
        return render(
            request, "journeys/stream.html", _stream_context(request, stream, item_form=form)
        )
    template = get_object_or_404(
        Template, pk=form.cleaned_data["template_id"], deleted_at__isnull=True
    )
    streams.stream_append(stream, template, form.cleaned_data["content_url"].strip())
    return _items(request, stream)


@require_capability(EDIT)
@require_POST
def stream_item(request: HttpRequest, pk: int, item: int, op: str) -> HttpResponse:
    stream = get_object_or_404(Stream, pk=pk)
    row = get_object_or_404(StreamItem, pk=item, stream=stream)
    if op == "up":
        streams.stream_item_move(row, -1)
    elif op == "down":
        streams.stream_item_move(row, 1)
    elif op == "remove":
        streams.stream_item_remove(row)
    else:
        return HttpResponse(status=404)
    return _items(request, stream)
