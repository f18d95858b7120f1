"""Top-level URLs: the UI apps, language switching and the health check."""

from django.urls import include, path

from tsunagari.api.urls import api_urls

urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("tsunagari.crm.urls")),
    path("", include("tsunagari.tracking.urls")),
    path("", include("tsunagari.scoring.urls")),
    path("", include("tsunagari.segments.urls")),
    path("", include("tsunagari.pages.urls")),
    path("", include("tsunagari.mail.urls")),
    path("", include("tsunagari.journeys.urls")),
    path("", include("tsunagari.deals.urls")),
    path("", include("tsunagari.events.urls")),
    path("", include("tsunagari.api.urls")),
    *api_urls,
    path("", include("tsunagari.core.urls")),
]
