"""Behaviour and fit rules, the score ledger, grades, MQL criteria, hand-off and back-testing."""

from django.apps import AppConfig


class ScoringConfig(AppConfig):
    name = "tsunagari.scoring"
    label = "scoring"
    verbose_name = "Scoring"

    def ready(self) -> None:
        from tsunagari.crm.panels import Panel, register_contact_panel
        from tsunagari.crm.services import register_contact_merge_hook
        from tsunagari.scoring import jobs
        from tsunagari.tracking.consumers import register as register_consumer
        from tsunagari.work.registry import register as register_work

        register_consumer("scoring", jobs.handle_touchpoints)
        register_contact_merge_hook(jobs.rescore_on_merge)
        register_contact_panel(Panel("score", "scoring:contact_score"))
        register_work("scoring.jobs", jobs.run_jobs)
        register_work("scoring.scheduled", jobs.run_scheduled)
