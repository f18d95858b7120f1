"""The API object: token authentication, rate limits, errors, and the routers of each domain.

Every endpoint acts as the token's user and checks that user's role, exactly as the UI does;
there is no cookie or session on the API, so no CSRF either. OpenAPI at /api/v1/openapi.json,
interactive documentation at /api/v1/docs (served locally, no CDN).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.security import HttpBearer

from tsunagari.api.services import token_authenticate
from tsunagari.core.ratelimit import RateLimiter

limiter = RateLimiter(rate=settings.TSUNAGARI_API_RATE, burst=settings.TSUNAGARI_API_BURST)


class TokenAuth(HttpBearer):
    """`Authorization: Bearer tsu_…`; the request then runs as the token's user."""

    def authenticate(self, request: HttpRequest, token: str):
        found = token_authenticate(token)
        if found is None:
            return None
        if not limiter.allow(f"token:{found.pk}"):
            raise HttpError(429, "too many requests: slow down and retry")
        request.user = found.user
        return found


api = NinjaAPI(
    title="Tsunagari API",
    version="1",
    description="Contacts, accounts and touchpoints of Tsunagari. docs/api.md explains tokens.",
    auth=TokenAuth(),
    urls_namespace="api",
    docs_decorator=login_required,  # the interactive docs are for logged-in staff
)


def _error(request: HttpRequest, status: int, message: str, **extra) -> HttpResponse:
    return api.create_response(request, {"error": message, **extra}, status=status)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request, exc):
    return _error(request, 401, "a valid API token is required (Authorization: Bearer tsu_…)")


@api.exception_handler(PermissionDenied)
def _forbidden(request, exc):
    return _error(request, 403, str(exc) or "your role does not allow this")


@api.exception_handler(Http404)
def _not_found(request, exc):
    return _error(request, 404, "not found")


@api.exception_handler(ValidationError)
def _invalid(request, exc):
    fields = exc.message_dict if hasattr(exc, "error_dict") else {"": exc.messages}
    return _error(request, 422, "invalid input", fields=fields)


@api.exception_handler(NinjaValidationError)
def _malformed(request, exc):
    return _error(request, 422, "malformed request", detail=exc.errors)


def require(request: HttpRequest, capability: str) -> None:
    if not request.user.can(capability):
        raise PermissionDenied(f"your role may not do this ({capability})")


from tsunagari.api.routers import accounts, contacts, deals, journeys, lists  # noqa: E402

api.add_router("/contacts", contacts.router)
api.add_router("/accounts", accounts.router)
api.add_router("/lists", lists.router)
api.add_router("/journeys", journeys.router)
api.add_router("/deals", deals.router)
