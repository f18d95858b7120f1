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
        }
    ),
    Role.MARKETING: frozenset(
        _SALES | {Capability.CRM_IMPORT, Capability.CRM_MERGE, Capability.CRM_CONFIGURE}
    ),
    Role.INSIDE_SALES: frozenset(_SALES | {Capability.CRM_MERGE}),
    Role.FIELD_SALES: frozenset(_SALES),
    Role.READ_ONLY: frozenset(_EVERYONE),
}


def role_can(role: str, capability: str) -> bool:
    return capability in CAPABILITIES.get(role, frozenset())
