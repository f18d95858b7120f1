from django.apps import AppConfig


class WorkConfig(AppConfig):
    name = "tsunagari.work"
    label = "work"
    verbose_name = "Work"
