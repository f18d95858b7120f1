"""Settings → API tokens: a user's own tokens (admins see everyone's)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from tsunagari.api.models import ApiToken
from tsunagari.api.services import ApiTokenError, token_create, token_revoke
from tsunagari.core.access import nav_area, require_capability
from tsunagari.core.roles import Capability

EXPIRY_CHOICES = [
    ("30", gettext_lazy("30 days")),
    ("90", gettext_lazy("90 days")),
    ("365", gettext_lazy("1 year")),
    ("", gettext_lazy("Never")),
]


class TokenForm(forms.Form):
    name = forms.CharField(
        label=gettext_lazy("Name"),
        max_length=100,
        help_text=gettext_lazy("What uses it, e.g. “SFA sync” or “trade-show scanner”."),
    )
    expires = forms.ChoiceField(
        label=gettext_lazy("Expires after"), choices=EXPIRY_CHOICES, initial="90", required=False
    )


def _visible_tokens(request: HttpRequest):
    tokens = ApiToken.objects.select_related("user")
    if request.user.can(Capability.USERS_MANAGE):
        return tokens
    return tokens.filter(user=request.user)


@nav_area("settings")
@require_capability(Capability.CRM_VIEW)
@require_http_methods(["GET", "POST"])
def token_list(request: HttpRequest) -> HttpResponse:
    form = TokenForm(request.POST or None)
    shown_once = None
    if request.method == "POST" and form.is_valid():
        days = form.cleaned_data["expires"]
        try:
            token, shown_once = token_create(
                user=request.user,
                name=form.cleaned_data["name"],
                expires_in_days=int(days) if days else None,
            )
        except ApiTokenError as exc:
            form.add_error("name", str(exc))
        else:
            form = TokenForm()
            messages.success(request, _("Token “%(name)s” created.") % {"name": token.name})
    context = {"form": form, "tokens": _visible_tokens(request)[:200], "shown_once": shown_once}
    return render(request, "api/token_list.html", context)


@require_capability(Capability.CRM_VIEW)
@require_POST
def token_revoke_view(request: HttpRequest, pk: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=pk)
    if token.user_id != request.user.pk and not request.user.can(Capability.USERS_MANAGE):
        raise PermissionDenied
    token_revoke(token=token)
    messages.success(
        request, _("Token “%(name)s” revoked: it no longer works.") % {"name": token.name}
    )
    return redirect("apitokens:token_list")
