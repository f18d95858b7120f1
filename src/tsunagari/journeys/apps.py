"""Journeys: scenario graphs, enrolments, the step engine and nurture streams."""

from django.apps import AppConfig


class JourneysConfig(AppConfig):
    name = "tsunagari.journeys"
    label = "journeys"
    verbose_name = "Journeys"

    def ready(self) -> None:
        from tsunagari.journeys import engine, streams, triggers
        from tsunagari.segments.services import register_membership_hook
        from tsunagari.tracking.consumers import register as register_consumer
        from tsunagari.work.registry import register as register_work

        register_work("journeys.steps", engine.run_steps)
        register_work("journeys.triggers", triggers.scan)
        register_work("journeys.streams", streams.run_streams)
        register_consumer("journeys", triggers.on_touchpoints)
        register_membership_hook(triggers.on_membership)
