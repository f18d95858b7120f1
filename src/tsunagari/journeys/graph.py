"""Checking a journey's graph before it is published.

Refused: a missing or unknown start, unknown step types, links to steps that do not exist,
steps nothing reaches, email steps without a (live) template, references to deleted lists or
segments, waits that do not parse, a wait with no way out, and cycles without a wait (a loop
that would run forever within one batch).
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from tsunagari.journeys import conditions, timing


def successors(step: dict) -> list[str]:
    kind = step.get("type")
    if kind == "branch":
        out = [step.get("yes"), step.get("no")]
    elif kind == "split":
        out = [b.get("next") for b in step.get("branches", [])]
    elif kind == "exit":
        out = []
    else:
        out = [step.get("next")]
    return [k for k in out if k]


def reachable(graph: dict) -> list[str]:
    """Step keys in the order a depth-first walk from the start meets them."""
    steps, seen, order = graph.get("steps", {}), set(), []
    stack = [graph.get("start")]
    while stack:
        key = stack.pop()
        if not key or key in seen or key not in steps:
            continue
        seen.add(key)
        order.append(key)
        stack.extend(reversed(successors(steps[key])))
    return order


def _cycle_without_wait(steps: dict) -> list[str]:
    """A cycle none of whose steps is a wait (keys in order), or []."""
    colour: dict[str, int] = {}
    path: list[str] = []

    def visit(key: str) -> list[str]:
        colour[key] = 1
        path.append(key)
        for nxt in successors(steps[key]):
            if nxt not in steps:
                continue
            if colour.get(nxt) == 1:
                loop = path[path.index(nxt) :]
                if not any(steps[k].get("type") == "wait" for k in loop):
                    return loop
            elif colour.get(nxt) is None:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        colour[key] = 2
        return []

    for key in steps:
        if colour.get(key) is None:
            found = visit(key)
            if found:
                return found
    return []


def problems(graph: dict) -> list[tuple[str, str]]:
    """(step key or "", message) for everything that stops a publish."""
    from tsunagari.journeys.engine import STEP_TYPES
    from tsunagari.journeys.models import Stream
    from tsunagari.mail.models import Template
    from tsunagari.segments.models import Segment

    steps = graph.get("steps", {}) if isinstance(graph, dict) else {}
    found: list[tuple[str, str]] = []
    if not steps:
        return [("", _("The journey has no steps."))]
    if graph.get("start") not in steps:
        found.append(("", _("The start step does not exist.")))
    for key, step in steps.items():
        kind = step.get("type")
        if kind not in STEP_TYPES:
            found.append((key, _("Unknown step type %(type)s.") % {"type": kind}))
            continue
        for nxt in successors(step):
            if nxt not in steps:
                found.append(
                    (key, _("Goes to a step that does not exist (%(key)s).") % {"key": nxt})
                )
        if kind == "email":
            if not Template.objects.filter(
                pk=step.get("template_id"), deleted_at__isnull=True
            ).exists():
                found.append((key, _("The email has no template, or its template was deleted.")))
        elif kind == "wait":
            try:
                import django.utils.timezone as tz

                timing.wait_until(step, tz.now())
            except (timing.WaitError, ValueError, TypeError) as exc:
                found.append((key, _("The wait is not valid: %(error)s") % {"error": exc}))
            if not step.get("next"):
                found.append((key, _("The wait leads nowhere: add the step that follows it.")))
        elif kind == "branch":
            if not step.get("conditions"):
                found.append((key, _("The branch has no condition.")))
            for message in conditions.problems(step.get("conditions", []), steps):
                found.append((key, message))
        elif kind == "split":
            total = sum(int(b.get("percent", 0)) for b in step.get("branches", []))
            if len(step.get("branches", [])) < 2 or total != 100:
                found.append((key, _("A random split needs two or more paths adding up to 100%.")))
        elif kind == "list":
            segment = Segment.objects.filter(pk=step.get("segment_id")).first()
            if segment is None or segment.kind != Segment.Kind.STATIC:
                found.append((key, _("The static list does not exist.")))
        elif kind == "stream" and not Stream.objects.filter(pk=step.get("stream_id")).exists():
            found.append((key, _("The nurture stream does not exist.")))
        elif kind == "webhook" and not str(step.get("url", "")).startswith(("http://", "https://")):
            found.append((key, _("The webhook needs an http:// or https:// URL.")))
        elif kind == "lifecycle" and not step.get("stage"):
            found.append((key, _("Choose the lifecycle stage to set.")))
    reached = set(reachable(graph))
    for key in steps:
        if key not in reached:
            found.append((key, _("No path leads to this step.")))
    loop = _cycle_without_wait(steps)
    if loop:
        found.append(
            (
                loop[0],
                _("These steps loop without a wait: %(steps)s.") % {"steps": " → ".join(loop)},
            )
        )
    return found
