from django.apps import AppConfig


class ScoringConfig(AppConfig):
    name = "tsunagari.scoring"
    label = "scoring"
    verbose_name = "Scoring"
