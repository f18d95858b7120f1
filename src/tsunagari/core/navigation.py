"""The areas of the product in the order a marketer works through them (PRODUCT.md)."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Area:
    key: str
    label: str
    url_name: str
    section: str = ""


AREAS: tuple[Area, ...] = (
    Area("dashboard", _("Dashboard"), "core:dashboard"),
    Area("contacts", _("Contacts"), "crm:contact_list", _("Database")),
    Area("accounts", _("Accounts"), "crm:account_list"),
    Area("imports", _("Import"), "crm:import_list"),
    Area("tracking", _("Tracking"), "tracking:site_list", _("Marketing")),
    Area("segments", _("Segments"), "segments:index"),
    Area("scoring", _("Scoring"), "scoring:index"),
    Area("pages", _("Forms & landing pages"), "pages:index"),
    Area("mail", _("Email"), "mail:index"),
    Area("journeys", _("Journeys"), "journeys:index"),
    Area("events", _("Seminars"), "events:index"),
    Area("sales", _("Deals & inside sales"), "deals:index", _("Sales")),
    Area("abm", _("ABM"), "core:area"),
    Area("analytics", _("Analytics"), "core:area"),
    Area("settings", _("Settings"), "core:settings", _("Administration")),
)

# What each area not yet built will do, shown on its empty page.
UPCOMING: dict[str, str] = {
    "segments": _(
        "Dynamic and static lists from contact, account and behaviour conditions, kept current."
    ),
    "scoring": _(
        "Behaviour and fit rules, decay and MQL thresholds; every point explained (自動スコア管理)."
    ),
    "pages": _(
        "Progressive forms that ask for BANT step by step, landing pages and dynamic web content."
    ),
    "mail": _(
        "Newsletters and triggered emails to segments, with consent checks, one-click "
        "unsubscribe and open/click tracking."
    ),
    "journeys": _("Scenario emails with waits and branches, dry-run before sending."),
    "events": _("Seminar registration, reminders and attendance, and how many became deals."),
    "abm": _("Target accounts, revenue analysis, white space and the three circles."),
    "analytics": _("Funnel, conversion, velocity and the effect of each content type."),
}


@dataclass(frozen=True)
class SettingsLink:
    label: str
    url_name: str
    capability: str


# Pages of other apps listed under Settings (apps register them in AppConfig.ready).
SETTINGS_LINKS: list[SettingsLink] = []


def register_settings_link(label: str, url_name: str, capability: str) -> None:
    if all(link.url_name != url_name for link in SETTINGS_LINKS):
        SETTINGS_LINKS.append(SettingsLink(label, url_name, capability))
