import pytest

from tsunagari.tracking.endpoint import limiter, writer
from tsunagari.tracking.models import TrackedSite
from tsunagari.tracking.sites import site_cache

ORIGIN = "https://www.example.co.jp"
UID = "0123456789abcdef0123456789abcdef"


@pytest.fixture(autouse=True)
def _fresh_limits():
    limiter.reset()
    yield
    limiter.reset()


@pytest.fixture(autouse=True)
def _writer_stopped_after_each_test():
    """The collect writer's threads end with the test that started them, closing their
    connections while the test may still use the database (it starts again on the next hit)."""
    yield
    writer.stop()


@pytest.fixture
def site(db):
    site = TrackedSite.objects.create(name="コーポレートサイト", origin=ORIGIN)
    site_cache.reload()
    yield site
    site_cache.reload()
