"""Deals (商談): pipeline, stages and their effects on the contact's lifecycle."""

from django.apps import AppConfig


class DealsConfig(AppConfig):
    name = "tsunagari.deals"
    label = "deals"
    verbose_name = "Deals"

    def ready(self) -> None:
        from tsunagari.crm.panels import (
            Panel,
            register_account_panel,
            register_contact_panel,
        )
        from tsunagari.crm.services import (
            register_account_merge_hook,
            register_contact_merge_hook,
        )
        from tsunagari.deals.services import move_account_deals_on_merge, move_deals_on_merge

        register_contact_merge_hook(move_deals_on_merge)
        register_account_merge_hook(move_account_deals_on_merge)
        register_contact_panel(Panel("deals", "deals:contact_panel"))
        register_account_panel(Panel("deals", "deals:account_panel"))
