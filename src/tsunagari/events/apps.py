"""Seminars and events: sessions, registration, reminders, attendance, check-in and reports."""

from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "tsunagari.events"
    label = "events"
    verbose_name = "Events"

    def ready(self) -> None:
        from tsunagari.crm.panels import Panel, register_contact_panel
        from tsunagari.crm.services import register_contact_merge_hook
        from tsunagari.events.emails import send_due
        from tsunagari.events.services import move_registrations_on_merge
        from tsunagari.work.registry import register

        register("events.emails", send_due)
        register_contact_merge_hook(move_registrations_on_merge)
        register_contact_panel(Panel("events", "events:contact_panel"))
