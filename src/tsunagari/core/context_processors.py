"""Template context every page needs: the navigation of all areas."""

from __future__ import annotations

from django.http import HttpRequest
from django.urls import reverse

from tsunagari.core.navigation import AREAS


def navigation(request: HttpRequest) -> dict:
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    match = getattr(request, "resolver_match", None)
    current = ""
    if match is not None:
        current = match.kwargs.get("area") or getattr(match.func, "nav_area", "")
    items = []
    for area in AREAS:
        if area.url_name == "core:area":
            url = reverse("core:area", kwargs={"area": area.key})
        else:
            url = reverse(area.url_name)
        items.append(
            {
                "label": area.label,
                "url": url,
                "section": area.section,
                "active": area.key == current,
            }
        )
    return {"nav_items": items}
