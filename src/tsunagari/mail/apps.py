from django.apps import AppConfig


class MailConfig(AppConfig):
    name = "tsunagari.mail"
    label = "mail"
    verbose_name = "Mail"

    def ready(self) -> None:
        from tsunagari.crm.panels import Panel, register_contact_panel
        from tsunagari.mail.bounces import connect_anymail, ingest_configured_maildir
        from tsunagari.mail.sending import send_batches
        from tsunagari.mail.services import broadcasts_advance
        from tsunagari.work.registry import register

        register("mail.broadcasts", broadcasts_advance)
        register("mail.send", send_batches)
        register("mail.bounces", ingest_configured_maildir)
        connect_anymail()
        register_contact_panel(Panel("mail", "mail:contact_panel"))
