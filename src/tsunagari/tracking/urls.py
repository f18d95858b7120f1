from django.urls import path

from tsunagari.tracking import public, views

app_name = "tracking"
urlpatterns = [
    path("tracking/", views.site_list, name="site_list"),
    path("tracking/sites/new/", views.site_edit, name="site_create"),
    path("tracking/sites/<int:pk>/", views.site_edit, name="site_edit"),
    path("tracking/ip-ranges/new/", views.ip_range_create, name="ip_range_create"),
    path("tracking/types/new/", views.custom_type_create, name="custom_type_create"),
    path("contacts/<int:pk>/timeline/", views.contact_timeline, name="contact_timeline"),
    path("contacts/<int:pk>/touches/", views.touch_create, name="touch_create"),
    path("accounts/<int:pk>/timeline/", views.account_timeline, name="account_timeline"),
    # Public, internet-facing:
    path("t.js", public.snippet, name="snippet"),
    path("t/collect", public.collect, name="collect"),
    path("t/p.gif", public.pixel, name="pixel"),
    path("t/identify", public.identify, name="identify"),
    path("t/form", public.form_submit, name="form"),
]
