from django.urls import path

from tsunagari.core import views as core_views

app_name = "pages"
urlpatterns = [
    path("pages/", core_views.area, {"area": "pages"}, name="index"),
]
