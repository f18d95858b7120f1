from django.urls import path

from tsunagari.journeys import views

app_name = "journeys"
urlpatterns = [
    path("journeys/", views.index, name="index"),
    path("journeys/new/", views.journey_new, name="new"),
    path("journeys/streams/", views.stream_index, name="streams"),
    path("journeys/streams/new/", views.stream_new, name="stream_new"),
    path("journeys/streams/<int:pk>/", views.stream_detail, name="stream"),
    path("journeys/streams/<int:pk>/edit/", views.stream_edit, name="stream_edit"),
    path("journeys/streams/<int:pk>/items/", views.stream_append, name="stream_append"),
    path(
        "journeys/streams/<int:pk>/items/<int:item>/<str:op>/",
        views.stream_item,
        name="stream_item",
    ),
    path("journeys/<int:pk>/", views.detail, name="detail"),
    path("journeys/<int:pk>/settings/", views.settings_edit, name="settings"),
    path("journeys/<int:pk>/steps/new/", views.step_edit, name="step_new"),
    path("journeys/<int:pk>/steps/<str:key>/", views.step_edit, name="step_edit"),
    path("journeys/<int:pk>/steps/<str:key>/remove/", views.step_remove, name="step_remove"),
    path("journeys/<int:pk>/dry-run/", views.dry_run, name="dry_run"),
    path("journeys/<int:pk>/report/", views.report, name="report"),
    path("journeys/<int:pk>/enrol/", views.enrol_csv, name="enrol_csv"),
    path("journeys/<int:pk>/<str:name>/", views.action, name="action"),
]
