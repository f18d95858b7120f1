from django.apps import AppConfig


class JourneysConfig(AppConfig):
    name = "tsunagari.journeys"
    label = "journeys"
    verbose_name = "Journeys"
