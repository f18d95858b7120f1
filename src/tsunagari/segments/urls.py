from django.urls import path

from tsunagari.core import views as core_views

app_name = "segments"
urlpatterns = [
    path("segments/", core_views.area, {"area": "segments"}, name="index"),
]
