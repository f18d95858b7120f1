from django.urls import path

from tsunagari.pages import public, views

app_name = "pages"
urlpatterns = [
    path("pages/", views.index, name="index"),
    path("pages/forms/new/", views.form_create, name="form_create"),
    path("pages/forms/<int:pk>/", views.form_edit, name="form_edit"),
    path("pages/forms/<int:pk>/fields/new/", views.field_edit, name="field_create"),
    path("pages/forms/<int:pk>/fields/<int:field_pk>/", views.field_edit, name="field_edit"),
    path(
        "pages/forms/<int:pk>/fields/<int:field_pk>/delete/",
        views.field_delete,
        name="field_delete",
    ),
    path("pages/forms/<int:pk>/fields/<int:field_pk>/move/", views.field_move, name="field_move"),
    path("pages/forms/<int:pk>/submissions/", views.form_submissions, name="form_submissions"),
    path("pages/landing/", views.page_list, name="page_list"),
    path("pages/landing/new/", views.page_create, name="page_create"),
    path("pages/landing/<int:pk>/", views.page_edit, name="page_edit"),
    path("pages/landing/<int:pk>/variants/", views.variant_action, name="variant_action"),
    path(
        "pages/landing/<int:pk>/variants/<str:key>/blocks/", views.block_action, name="block_action"
    ),
    path("pages/landing/<int:pk>/preview/", public.landing_preview, name="page_preview"),
    path("pages/assets/", views.asset_list, name="asset_list"),
    path("pages/assets/new/", views.asset_edit, name="asset_create"),
    path("pages/assets/<int:pk>/", views.asset_edit, name="asset_edit"),
    path("pages/slots/", views.slot_list, name="slot_list"),
    path("pages/slots/new/", views.slot_edit, name="slot_create"),
    path("pages/slots/<int:pk>/", views.slot_edit, name="slot_edit"),
    path("pages/slots/<int:pk>/variants/new/", views.slot_variant_edit, name="slot_variant_create"),
    path(
        "pages/slots/<int:pk>/variants/<int:variant_pk>/",
        views.slot_variant_edit,
        name="slot_variant_edit",
    ),
    path("contacts/<int:pk>/submissions/", views.contact_submissions, name="contact_submissions"),
    # Public, internet-facing:
    path("p/embed.js", public.embed_script, name="embed"),
    path("p/slots.json", public.slots, name="slots"),
    path("p/<slug:slug>/", public.landing_page, name="landing"),
    path("f/<int:pk>/render", public.form_definition, name="form_definition"),
    path("f/<int:pk>/submit", public.form_post, name="form_post"),
    path("f/confirm/<str:token>", public.confirm, name="confirm"),
    path("a/<str:token>", public.download, name="download"),
]
