from django.apps import AppConfig


class MailConfig(AppConfig):
    name = "tsunagari.mail"
    label = "mail"
    verbose_name = "Mail"
