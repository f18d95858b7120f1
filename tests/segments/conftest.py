"""Segment test fixtures; `--hypothesis-profile=segments-dev` skips shrinking when debugging."""

from __future__ import annotations

import pytest
from django.utils import translation
from hypothesis import Phase, settings

settings.register_profile(
    "segments-dev", phases=[Phase.explicit, Phase.reuse, Phase.generate], print_blob=True
)


@pytest.fixture
def english(request):
    """English messages, in this thread and in the responses of the test's logged-in clients."""
    for name in ("marketer_client", "reader_client", "admin_client_", "client"):
        if name in request.fixturenames:
            request.getfixturevalue(name).defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    with translation.override("en"):
        yield
