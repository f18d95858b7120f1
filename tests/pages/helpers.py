"""Reading a rendered hosted form the way a browser would: its inputs and hidden values."""

from __future__ import annotations

import re
from html import unescape

from django.test import Client

from tests.pages.conftest import CHROME


def inputs_of(html: str) -> dict[str, str]:
    """name → value of every input, select and textarea in the page."""
    found: dict[str, str] = {}
    for tag in re.findall(r"<(?:input|select|textarea)\b[^>]*>", html):
        name = re.search(r'name="([^"]+)"', tag)
        if not name:
            continue
        if 'type="checkbox"' in tag and " checked" not in tag:
            continue  # a browser sends an unticked box not at all
        value = re.search(r'value="([^"]*)"', tag)
        found[name.group(1)] = unescape(value.group(1)) if value else ""
    return found


def asked_targets(html: str, form) -> list[str]:
    """The targets of the visible questions in a rendered form, in order."""
    names = set(re.findall(r'name="(f\d+)"', html))
    return [f.target for f in form.fields.all() if f.kind == "field" and f.name in names]


def open_page(client: Client, slug: str, query: str = "") -> tuple[str, dict[str, str]]:
    response = client.get(f"/p/{slug}/{query}", headers={"User-Agent": CHROME})
    assert response.status_code == 200, response.status_code
    html = response.content.decode()
    return html, inputs_of(html)


def answers(form, **by_target) -> dict[str, str]:
    out = {}
    for f in form.fields.all():
        if f.target in by_target and f.kind != "hidden":
            out[f.name] = by_target[f.target]
    return out


def submit_page(client: Client, slug: str, inputs: dict[str, str], data: dict[str, str]):
    payload = {
        k: v for k, v in inputs.items() if k.startswith("_tsg") or k == "csrfmiddlewaretoken"
    }
    payload.update({k: v for k, v in inputs.items() if k.startswith("f") and k[1:].isdigit() and v})
    payload.update(data)
    return client.post(f"/p/{slug}/", payload, headers={"User-Agent": CHROME})
