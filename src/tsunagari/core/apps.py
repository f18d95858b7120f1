from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "tsunagari.core"
    label = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from tsunagari.core import lookups  # noqa: F401  (registers field__prefix)
        from tsunagari.core.dashboard import dashboard_refresh
        from tsunagari.work.registry import register

        register("core.dashboard", dashboard_refresh)
