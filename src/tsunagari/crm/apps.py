from django.apps import AppConfig


class CrmConfig(AppConfig):
    name = "tsunagari.crm"
    label = "crm"
    verbose_name = "CRM"

    def ready(self) -> None:
        from tsunagari.crm import imports
        from tsunagari.work.registry import register

        register("crm.import", imports.run_due_imports)
