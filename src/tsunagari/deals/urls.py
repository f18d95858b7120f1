from django.urls import path

from tsunagari.deals import views

app_name = "deals"
urlpatterns = [
    path("deals/", views.index, name="index"),
    path("deals/new/", views.create, name="create"),
    path("deals/<int:pk>/", views.detail, name="detail"),
    path("deals/<int:pk>/edit/", views.edit, name="edit"),
    path("deals/<int:pk>/stage/", views.move_stage, name="move_stage"),
    path("contacts/<int:pk>/deals/", views.contact_panel, name="contact_panel"),
    path("accounts/<int:pk>/deals/", views.account_panel, name="account_panel"),
]
