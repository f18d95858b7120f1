from django.urls import path

from tsunagari.core import views as core_views

app_name = "events"
urlpatterns = [
    path("events/", core_views.area, {"area": "events"}, name="index"),
]
