from django.urls import path

from tsunagari.core import views as core_views

app_name = "journeys"
urlpatterns = [
    path("journeys/", core_views.area, {"area": "journeys"}, name="index"),
]
