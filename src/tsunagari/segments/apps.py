from django.apps import AppConfig


class SegmentsConfig(AppConfig):
    name = "tsunagari.segments"
    label = "segments"
    verbose_name = "Segments"
