"""Seminars and events: sessions, registration, reminders, attendance, check-in and reports."""

from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "tsunagari.events"
    label = "events"
    verbose_name = "Events"

    def ready(self) -> None:
        from tsunagari.events.emails import send_due
        from tsunagari.work.registry import register

        register("events.emails", send_due)
