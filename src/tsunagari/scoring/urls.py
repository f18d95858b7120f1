from django.urls import path

from tsunagari.scoring import views

app_name = "scoring"
urlpatterns = [
    path("scoring/", views.index, name="index"),
    path("scoring/rules/new/", views.rule_edit, name="rule_create"),
    path("scoring/rules/<int:pk>/", views.rule_edit, name="rule_edit"),
    path("scoring/rules/<int:pk>/active/", views.rule_toggle, name="rule_toggle"),
    path("scoring/recompute/", views.recompute_all, name="recompute_all"),
    path("scoring/fit/new/", views.fit_rule_edit, name="fit_rule_create"),
    path("scoring/fit/<int:pk>/", views.fit_rule_edit, name="fit_rule_edit"),
    path("scoring/fit/<int:pk>/active/", views.fit_rule_toggle, name="fit_rule_toggle"),
    path("scoring/mql/", views.mql_settings, name="mql_settings"),
    path("scoring/assignment/new/", views.assignment_edit, name="assignment_create"),
    path("scoring/assignment/<int:pk>/", views.assignment_edit, name="assignment_edit"),
    path("scoring/assignment/<int:pk>/delete/", views.assignment_delete, name="assignment_delete"),
    path("scoring/leads/", views.handoff_queue, name="handoff_queue"),
    path("scoring/leads/overdue/", views.handoff_overdue, name="handoff_overdue"),
    path("scoring/leads/<int:pk>/", views.handoff_detail, name="handoff_detail"),
    path("scoring/leads/<int:pk>/accept/", views.handoff_accept, name="handoff_accept"),
    path("scoring/leads/<int:pk>/reject/", views.handoff_reject, name="handoff_reject"),
    path("scoring/backtest/", views.backtest, name="backtest"),
    path("contacts/<int:pk>/score/", views.contact_score, name="contact_score"),
]
