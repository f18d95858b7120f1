"""Log-in, the dashboard, the areas still to come, and user/team administration."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from tsunagari.core import services
from tsunagari.core.access import nav_area, require_capability, require_login
from tsunagari.core.dashboard import dashboard_stats
from tsunagari.core.forms import TeamForm, UserCreateForm, UserEditForm
from tsunagari.core.models import Team, User
from tsunagari.core.navigation import AREAS, SETTINGS_LINKS, UPCOMING
from tsunagari.core.roles import Capability


class LoginView(auth_views.LoginView):
    template_name = "core/login.html"
    redirect_authenticated_user = True


logout_view = auth_views.LogoutView.as_view()
password_change_view = require_login(
    auth_views.PasswordChangeView.as_view(
        template_name="core/password_change.html", success_url="/password/done/"
    )
)
password_change_done_view = require_login(
    auth_views.PasswordChangeDoneView.as_view(template_name="core/password_change_done.html")
)


@nav_area("dashboard")
@require_capability(Capability.CRM_VIEW)
def dashboard(request: HttpRequest) -> HttpResponse:
    return render(request, "core/dashboard.html", {"stats": dashboard_stats()})


@require_capability(Capability.CRM_VIEW)
def area(request: HttpRequest, area: str) -> HttpResponse:
    """The page of an area not built yet: what it will do, never a dead link."""
    if area not in UPCOMING:
        raise Http404
    label = next(a.label for a in AREAS if a.key == area)
    return render(request, "core/area.html", {"label": label, "description": UPCOMING[area]})


@nav_area("settings")
@require_capability(Capability.CRM_VIEW)
def settings_home(request: HttpRequest) -> HttpResponse:
    links = [link for link in SETTINGS_LINKS if request.user.can(link.capability)]
    return render(request, "core/settings.html", {"links": links})


@nav_area("settings")
@require_capability(Capability.USERS_MANAGE)
def user_list(request: HttpRequest) -> HttpResponse:
    users = User.objects.prefetch_related("teams").order_by("username")
    return render(request, "core/user_list.html", {"users": users})


@nav_area("settings")
@require_capability(Capability.USERS_MANAGE)
@require_http_methods(["GET", "POST"])
def user_create(request: HttpRequest) -> HttpResponse:
    form = UserCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.user_create(
                username=data["username"],
                password=data["password"],
                role=data["role"],
                email=data["email"],
                display_name=data["display_name"],
            )
        except services.CoreError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("User %(name)s created.") % {"name": data["username"]})
            return redirect("core:user_list")
    return render(request, "core/form.html", {"form": form, "title": _("New user")})


@nav_area("settings")
@require_capability(Capability.USERS_MANAGE)
@require_http_methods(["GET", "POST"])
def user_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user = get_object_or_404(User, pk=pk)
    form = UserEditForm(request.POST or None, instance=user)
    if request.method == "POST" and form.is_valid():
        try:
            services.user_update(user=form.instance, actor=request.user)
        except services.CoreError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("Saved."))
            return redirect("core:user_list")
    return render(request, "core/form.html", {"form": form, "title": str(user)})


@nav_area("settings")
@require_capability(Capability.CRM_VIEW)
def team_list(request: HttpRequest) -> HttpResponse:
    teams = Team.objects.prefetch_related("members")
    return render(
        request,
        "core/team_list.html",
        {"teams": teams, "can_manage": request.user.can(Capability.USERS_MANAGE)},
    )


@nav_area("settings")
@require_capability(Capability.USERS_MANAGE)
@require_http_methods(["GET", "POST"])
def team_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    team = get_object_or_404(Team, pk=pk) if pk else Team()
    form = TeamForm(request.POST or None, instance=team)
    if request.method == "POST" and form.is_valid():
        services.team_save(team=form.save(commit=False), members=list(form.cleaned_data["members"]))
        messages.success(request, _("Saved."))
        return redirect("core:team_list")
    title = str(team) if pk else _("New team")
    return render(request, "core/form.html", {"form": form, "title": title})


def health(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


@require_login
@require_http_methods(["GET", "POST"])
def notification_list(request: HttpRequest) -> HttpResponse:
    """The user's notifications, newest first; POST marks them read."""
    from django.core.paginator import Paginator

    from tsunagari.core.models import Notification

    if request.method == "POST":
        services.notifications_mark_read(user=request.user)
        return redirect("core:notifications")
    page = Paginator(Notification.objects.filter(user=request.user), 50).get_page(
        request.GET.get("page")
    )
    return render(request, "core/notifications.html", {"page": page})
