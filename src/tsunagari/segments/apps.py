from django.apps import AppConfig


class SegmentsConfig(AppConfig):
    name = "tsunagari.segments"
    label = "segments"
    verbose_name = "Segments"

    def ready(self) -> None:
        from tsunagari.crm.panels import Panel, register_contact_panel
        from tsunagari.segments import services
        from tsunagari.tracking.consumers import register as register_consumer
        from tsunagari.work.registry import register as register_work

        # New touchpoints: re-evaluate the contacts they belong to (same transaction as the
        # consumer's cursor). Profile changes and time windows: the worker's refresh runner.
        register_consumer("segments", services.on_touchpoints)
        register_work("segments.refresh", services.run_due_refreshes)
        register_contact_panel(Panel("segments", "segments:contact_panel"))
