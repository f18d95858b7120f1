from django.apps import AppConfig


class PagesConfig(AppConfig):
    name = "tsunagari.pages"
    label = "pages"
    verbose_name = "Pages"
