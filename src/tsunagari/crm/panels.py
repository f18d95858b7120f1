"""Panels other apps add to the contact and account pages (an explicit registry).

crm cannot import the apps above it; they register a URL name taking the object's pk, and
the detail page loads each panel with htmx.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Panel:
    key: str
    url_name: str  # reversed with the contact's or account's pk


CONTACT_PANELS: list[Panel] = []
ACCOUNT_PANELS: list[Panel] = []


def register_contact_panel(panel: Panel) -> None:
    if all(p.key != panel.key for p in CONTACT_PANELS):
        CONTACT_PANELS.append(panel)


def register_account_panel(panel: Panel) -> None:
    if all(p.key != panel.key for p in ACCOUNT_PANELS):
        ACCOUNT_PANELS.append(panel)
