from django.urls import path

from tsunagari.api import views
from tsunagari.api.api import api

app_name = "apitokens"
urlpatterns = [
    path("settings/api-tokens/", views.token_list, name="token_list"),
    path("settings/api-tokens/<int:pk>/revoke/", views.token_revoke_view, name="token_revoke"),
]

api_urls = [path("api/v1/", api.urls)]
