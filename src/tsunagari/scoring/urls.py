from django.urls import path

from tsunagari.core import views as core_views

app_name = "scoring"
urlpatterns = [
    path("scoring/", core_views.area, {"area": "scoring"}, name="index"),
]
