"""WSGI entry point for any WSGI server (granian in `tsunagari serve`, gunicorn at scale).

The tracking collect endpoint is answered in front of Django: it is the one URL hit on
every page view of every tracked site, and it needs none of Django's middleware.
"""

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tsunagari.settings")
django_application = get_wsgi_application()

from django.conf import settings  # noqa: E402

from tsunagari.core.proxies import BehindProxies  # noqa: E402
from tsunagari.tracking.endpoint import CollectFastPath  # noqa: E402  (needs Django set up)

application = CollectFastPath(django_application)
if settings.TSUNAGARI_TRUSTED_PROXIES:
    # Behind a reverse proxy: every request, the collect fast path's too, sees the visitor's
    # address instead of the proxy's.
    application = BehindProxies(application)

# What is loaded by now lives as long as the process: keep it out of the garbage collector's
# full collections, each otherwise a pause of tens of milliseconds for every request in it.
gc.collect()
gc.freeze()

if os.environ.get("TSUNAGARI_EMBEDDED_WORKER") == "1":
    # `tsunagari serve` without --no-worker: due work runs beside the web app, in this process.
    from tsunagari.work.worker import start_in_thread

    start_in_thread()
