"""Roles and what each may do: the one table every view and service checks against."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    ADMIN = "admin", _("Administrator")
    MARKETING = "marketing", _("Marketing")
    INSIDE_SALES = "inside_sales", _("Inside sales")
    FIELD_SALES = "field_sales", _("Field sales")
    READ_ONLY = "read_only", _("Read-only")


class Capability:
    """Names of things a user may do. Views and services ask for one of these, never a role."""

    CRM_VIEW = "crm.view"
    CRM_EDIT = "crm.edit"
    CRM_IMPORT = "crm.import"
    CRM_EXPORT = "crm.export"
    CRM_MERGE = "crm.merge"
    CRM_CONFIGURE = "crm.configure"  # custom fields
    USERS_MANAGE = "users.manage"
    MAIL_VIEW = "mail.view"  # templates, broadcasts and reports
    MAIL_SEND = "mail.send"  # edit templates, schedule and control broadcasts
    MAIL_CONFIGURE = "mail.configure"  # sender identity, DKIM, suppression list
    SCORING_CONFIGURE = "scoring.configure"  # behaviour/fit rules, MQL criteria, assignment
    LEADS_WORK = "leads.work"  # accept or reject the MQLs handed to you
    LEADS_MANAGE = "leads.manage"  # overdue follow-ups and the ignored-leads rate


_EVERYONE = {Capability.CRM_VIEW}
_SALES = _EVERYONE | {Capability.CRM_EDIT, Capability.CRM_EXPORT}

CAPABILITIES: dict[str, frozenset[str]] = {
    Role.ADMIN: frozenset(
        {
            Capability.CRM_VIEW,
            Capability.CRM_EDIT,
            Capability.CRM_IMPORT,
            Capability.CRM_EXPORT,
            Capability.CRM_MERGE,
            Capability.CRM_CONFIGURE,
            Capability.USERS_MANAGE,
            Capability.SCORING_CONFIGURE,
            Capability.LEADS_WORK,
            Capability.LEADS_MANAGE,
            Capability.MAIL_VIEW,
            Capability.MAIL_SEND,
            Capability.MAIL_CONFIGURE,
        }
    ),
    Role.MARKETING: frozenset(
        _SALES
        | {
            Capability.CRM_IMPORT,
            Capability.CRM_MERGE,
            Capability.CRM_CONFIGURE,
            Capability.SCORING_CONFIGURE,
            Capability.LEADS_MANAGE,
            Capability.MAIL_VIEW,
            Capability.MAIL_SEND,
        }
    ),
    Role.INSIDE_SALES: frozenset(_SALES | {Capability.CRM_MERGE, Capability.LEADS_WORK}),
    Role.FIELD_SALES: frozenset(_SALES | {Capability.LEADS_WORK}),
    Role.READ_ONLY: frozenset(_EVERYONE),
}


def role_can(role: str, capability: str) -> bool:
    return capability in CAPABILITIES.get(role, frozenset())
