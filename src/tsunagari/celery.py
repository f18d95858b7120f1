"""The Celery app: `celery -A tsunagari worker` runs the worker's batches on any machine.

Only used with TSUNAGARI_EXECUTOR=celery. The tasks are thin wrappers around the same batch
functions the inline executor calls (tsunagari.work.tasks).
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tsunagari.settings")

app = Celery("tsunagari", include=["tsunagari.work.tasks"])
app.config_from_object("django.conf:settings", namespace="CELERY")
