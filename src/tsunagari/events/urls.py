from django.urls import path

from tsunagari.events import public, views

app_name = "events"
urlpatterns = [
    path("events/", views.index, name="index"),
    path("events/new/", views.event_create, name="create"),
    path("events/<int:pk>/", views.detail, name="detail"),
    path("events/<int:pk>/edit/", views.event_edit, name="edit"),
    path("events/<int:pk>/sessions/new/", views.session_edit, name="session_create"),
    path("events/<int:pk>/sessions/<int:session_pk>/", views.session_edit, name="session_edit"),
    path("events/<int:pk>/registrants/", views.registrants, name="registrants"),
    path(
        "events/<int:pk>/registrants/<int:reg_pk>/",
        views.registration_action,
        name="registration_action",
    ),
    path("events/<int:pk>/checkin/", views.checkin, name="checkin"),
    path("events/<int:pk>/kiosk/", views.kiosk, name="kiosk"),
    path("events/<int:pk>/attendance/", views.attendance_import, name="attendance"),
    path("events/<int:pk>/followup/", views.followup, name="followup"),
    path("events/<int:pk>/report/", views.report, name="report"),
    path("contacts/<int:pk>/seminars/", views.contact_panel, name="contact_panel"),
    path("e/cancel/<str:token>/", public.cancel, name="cancel"),
    path("e/<slug:slug>/", public.register_page, name="register"),
]
