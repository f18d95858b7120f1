"""RSGI entry point of the collect server (`tsunagari serve` runs it with granian).

Only `/t/collect` (and `/healthz`) is served here; everything else is the web app's.
"""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tsunagari.settings")
django.setup()

from tsunagari.tracking.collector import Collector  # noqa: E402  (needs Django set up)

application = Collector()
