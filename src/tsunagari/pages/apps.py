from django.apps import AppConfig


class PagesConfig(AppConfig):
    name = "tsunagari.pages"
    label = "pages"
    verbose_name = "Pages"

    def ready(self) -> None:
        from tsunagari.crm.panels import Panel, register_contact_panel
        from tsunagari.crm.services import register_contact_merge_hook
        from tsunagari.pages.reports import asset_report_refresh
        from tsunagari.pages.services import move_submissions_on_merge, used_tokens_forget
        from tsunagari.pages.submissions import submission_emails_send
        from tsunagari.work.registry import register

        register_contact_merge_hook(move_submissions_on_merge)
        register_contact_panel(Panel("form_submissions", "pages:contact_submissions"))
        register("pages.used_tokens", used_tokens_forget)
        register("pages.emails", submission_emails_send)
        register("pages.asset_report", asset_report_refresh)
