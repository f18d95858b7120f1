from django.urls import path

from tsunagari.core import views as core_views

app_name = "mail"
urlpatterns = [
    path("mail/", core_views.area, {"area": "mail"}, name="index"),
]
