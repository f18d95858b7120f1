from django.apps import AppConfig


class TrackingConfig(AppConfig):
    name = "tsunagari.tracking"
    label = "tracking"
    verbose_name = "Tracking"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from tsunagari.crm.imports import register_after_batch, register_touch_kinds
        from tsunagari.crm.panels import Panel, register_account_panel, register_contact_panel
        from tsunagari.crm.services import register_account_merge_hook, register_contact_merge_hook
        from tsunagari.tracking.consumers import run_consumers
        from tsunagari.tracking.models import IpRange
        from tsunagari.tracking.services import (
            move_account_touchpoints_on_merge,
            move_touchpoints_on_merge,
            touches_for_import,
        )
        from tsunagari.tracking.sites import range_cache
        from tsunagari.tracking.vocabulary import OFFLINE_TYPES, Type
        from tsunagari.work.registry import register

        register_contact_merge_hook(move_touchpoints_on_merge)
        register_account_merge_hook(move_account_touchpoints_on_merge)
        # An import can record an offline touch for every row (the trade show of the cards).
        kinds = (*OFFLINE_TYPES, Type.SEMINAR_REGISTERED)
        register_touch_kinds([(kind.value, kind.label) for kind in kinds])
        register_after_batch(touches_for_import)
        register_contact_panel(Panel("timeline", "tracking:contact_timeline"))
        register_account_panel(Panel("timeline", "tracking:account_timeline"))
        register("tracking.consumers", run_consumers)
        # A range saved or deleted here counts at once (other processes within seconds).
        post_save.connect(range_cache.clear, sender=IpRange, dispatch_uid="tsunagari-ip-ranges")
        post_delete.connect(
            range_cache.clear, sender=IpRange, dispatch_uid="tsunagari-ip-ranges-del"
        )
