from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "tsunagari.api"
    label = "api"
    verbose_name = "API"

    def ready(self) -> None:
        from django.utils.translation import gettext_lazy as _

        from tsunagari.core.navigation import register_settings_link
        from tsunagari.core.roles import Capability

        register_settings_link(_("API tokens"), "apitokens:token_list", Capability.CRM_VIEW)
