"""Access checks for views: log-in and a capability, in one decorator that cannot be forgotten."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse


def require_capability(capability: str) -> Callable:
    """The view runs only for a logged-in, active user whose role grants `capability`.

    Anonymous users are sent to the log-in page; others without the capability get 403.
    """

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            user = request.user
            if not user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not user.can(capability):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def require_login(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        return view(request, *args, **kwargs)

    return wrapper


def nav_area(key: str) -> Callable:
    """Mark which navigation entry a view belongs to (apply outermost)."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        view.nav_area = key  # type: ignore[attr-defined]
        return view

    return decorator
