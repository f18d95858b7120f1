from django.urls import path

from tsunagari.segments import views

app_name = "segments"
urlpatterns = [
    path("segments/", views.index, name="index"),
    path("segments/new/", views.segment_edit, name="create"),
    path("segments/builder/", views.builder, name="builder"),
    path("contacts/<int:pk>/segments/", views.contact_panel, name="contact_panel"),
    path("segments/<int:pk>/", views.segment_detail, name="detail"),
    path("segments/<int:pk>/edit/", views.segment_edit, name="edit"),
    path("segments/<int:pk>/refresh/", views.segment_refresh_view, name="refresh"),
    path("segments/<int:pk>/delete/", views.segment_delete_view, name="delete"),
    path("segments/<int:pk>/members/add/", views.static_add_view, name="static_add"),
    path("segments/<int:pk>/members/remove/", views.static_remove_view, name="static_remove"),
    path("segments/<int:pk>/members/upload/", views.static_upload_view, name="static_upload"),
]
