from django.urls import path

from tsunagari.crm import views, views_io

app_name = "crm"
urlpatterns = [
    path("contacts/", views.contact_list, name="contact_list"),
    path("contacts/new/", views.contact_edit, name="contact_create"),
    path("contacts/export.csv", views_io.contact_export, name="contact_export"),
    path("contacts/trash/", views.contact_trash, name="contact_trash"),
    path("contacts/<int:pk>/", views.contact_detail, name="contact_detail"),
    path("contacts/<int:pk>/edit/", views.contact_edit, name="contact_edit"),
    path("contacts/<int:pk>/lifecycle/", views.contact_lifecycle, name="contact_lifecycle"),
    path("contacts/<int:pk>/consent/", views.contact_consent, name="contact_consent"),
    path("contacts/<int:pk>/merge/", views.contact_merge, name="contact_merge"),
    path("contacts/<int:pk>/delete/", views.contact_delete, name="contact_delete"),
    path("contacts/<int:pk>/restore/", views.contact_restore, name="contact_restore"),
    path("accounts/", views.account_list, name="account_list"),
    path("accounts/new/", views.account_edit, name="account_create"),
    path("accounts/search/", views.account_search, name="account_search"),
    path("accounts/export.csv", views_io.account_export, name="account_export"),
    path("accounts/<int:pk>/", views.account_detail, name="account_detail"),
    path("accounts/<int:pk>/edit/", views.account_edit, name="account_edit"),
    path("accounts/<int:pk>/merge/", views.account_merge, name="account_merge"),
    path("imports/", views_io.import_list, name="import_list"),
    path("imports/<int:pk>/", views_io.import_detail, name="import_detail"),
    path("imports/<int:pk>/errors.csv", views_io.import_errors_csv, name="import_errors_csv"),
    path("settings/fields/", views.customfield_list, name="customfield_list"),
    path("settings/fields/new/", views.customfield_edit, name="customfield_create"),
    path("settings/fields/<int:pk>/", views.customfield_edit, name="customfield_edit"),
]
