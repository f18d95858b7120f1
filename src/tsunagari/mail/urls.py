from django.urls import include, path

from tsunagari.mail import public, views

app_name = "mail"
urlpatterns = [
    path("mail/", views.index, name="index"),
    path("mail/templates/new/", views.template_edit, name="template_new"),
    path("mail/templates/<int:pk>/", views.template_edit, name="template_edit"),
    path("mail/templates/<int:pk>/preview/", views.template_preview, name="template_preview"),
    path("mail/templates/<int:pk>/test/", views.template_test, name="template_test"),
    path("mail/broadcasts/", views.broadcast_list, name="broadcast_list"),
    path("mail/broadcasts/new/", views.broadcast_new, name="broadcast_new"),
    path("mail/broadcasts/<int:pk>/", views.broadcast_detail, name="broadcast_detail"),
    path("mail/broadcasts/<int:pk>/<str:action>/", views.broadcast_action, name="broadcast_action"),
    path("mail/topics/", views.topic_list, name="topic_list"),
    path("mail/suppressions/", views.suppression_list, name="suppression_list"),
    path("mail/settings/", views.sender_edit, name="sender_settings"),
    path("mail/contacts/<int:pk>/panel/", views.contact_panel, name="contact_panel"),
    # Public, for recipients (signed tokens).
    path("m/u/<str:token>/", public.unsubscribe, name="unsubscribe"),
    path("m/o/<str:token>.gif", public.open_pixel, name="open"),
    path("m/c/<str:token>/", public.click, name="click"),
    path("m/p/<str:token>/", public.preferences, name="preferences"),
    # ESP webhooks (bounces, complaints…) through django-anymail: m/esp/<esp>/tracking/.
    path("m/esp/", include("anymail.urls")),
]
