"""Django settings, read from the environment (see docs/configuration.md)."""

from __future__ import annotations

import ipaddress
import os
import re
import zoneinfo
from pathlib import Path

import dj_database_url

from tsunagari.env import (
    ConfigError,
    data_dir,
    env_bool,
    env_int,
    env_list,
    env_str,
    persistent_secret_key,
)

BASE_DIR = Path(__file__).resolve().parent
DATA_DIR = data_dir()
UPLOAD_DIR = DATA_DIR / "uploads"

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = persistent_secret_key(DATA_DIR)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "tsunagari.core",
    "tsunagari.work",
    "tsunagari.crm",
    "tsunagari.tracking",
    "tsunagari.scoring",
    "tsunagari.segments",
    "tsunagari.pages",
    "tsunagari.mail",
    "tsunagari.journeys",
    "tsunagari.deals",
    "tsunagari.events",
    "tsunagari.api",
    "ninja",  # its Swagger UI files, served locally
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "tsunagari.urls"
WSGI_APPLICATION = "tsunagari.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tsunagari.core.context_processors.navigation",
            ],
        },
    },
]


def _database() -> dict:
    default_sqlite = f"sqlite:///{DATA_DIR / 'tsunagari.sqlite3'}"
    url = env_str("DATABASE_URL", default_sqlite)
    try:
        config = dj_database_url.parse(url, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))
    except ValueError as exc:
        raise ConfigError(
            f"DATABASE_URL is not a database URL Tsunagari understands: {exc}"
        ) from None
    if config["ENGINE"] == "django.db.backends.sqlite3":
        # Django's backend, with foreign-key checks after a migration limited to what it
        # changed (tsunagari/core/sqlite/base.py): upgrades of large databases take seconds.
        config["ENGINE"] = "tsunagari.core.sqlite"
        config["CONN_MAX_AGE"] = 0 if url == default_sqlite else config["CONN_MAX_AGE"]
        config["OPTIONS"] = {
            # WAL lets readers run beside the writer; IMMEDIATE takes the write lock at BEGIN
            # so two writers queue on busy_timeout instead of failing mid-transaction.
            "init_command": (
                "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL;"
                "PRAGMA busy_timeout=10000;PRAGMA cache_size=-65536;PRAGMA temp_store=MEMORY"
            ),
            "transaction_mode": "IMMEDIATE",
        }
        config["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}
    elif config["ENGINE"] == "django.db.backends.postgresql":
        config.setdefault("TEST", {})
    else:
        raise ConfigError("DATABASE_URL must point to SQLite or PostgreSQL")
    return config


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "core.User"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "core:login"
LOGIN_REDIRECT_URL = "core:dashboard"
LOGOUT_REDIRECT_URL = "core:login"

LANGUAGE_CODE = "ja"
LANGUAGES = [("ja", "日本語"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
USE_TZ = True
TIME_ZONE = env_str("TSUNAGARI_TIME_ZONE", "Asia/Tokyo")
try:
    zoneinfo.ZoneInfo(TIME_ZONE)
except (zoneinfo.ZoneInfoNotFoundError, ValueError):
    raise ConfigError(f"TSUNAGARI_TIME_ZONE={TIME_ZONE!r} is not an IANA time zone") from None
# The tenant's currency: deal amounts are in it (ISO 4217 code; docs/deals.md).
TSUNAGARI_CURRENCY = env_str("TSUNAGARI_CURRENCY", "JPY").upper()

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
# WhiteNoise serves straight from the apps' static folders, so `serve` needs no collectstatic.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
MEDIA_ROOT = UPLOAD_DIR

# Collect endpoint: hits per second one IP address may send (offices share one address).
TSUNAGARI_COLLECT_RATE = env_int("TSUNAGARI_COLLECT_RATE", 50)
TSUNAGARI_COLLECT_BURST = env_int("TSUNAGARI_COLLECT_BURST", 200)
# Reverse proxies / load balancers in front of Tsunagari (addresses or CIDR ranges): requests
# from them are taken to come from the address X-Forwarded-For names (tsunagari/core/proxies.py).
TSUNAGARI_TRUSTED_PROXIES = env_list("TSUNAGARI_TRUSTED_PROXIES", [])
for _proxy in TSUNAGARI_TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy, strict=False)
    except ValueError:
        raise ConfigError(
            f"TSUNAGARI_TRUSTED_PROXIES: {_proxy!r} is not an IP address or CIDR range"
        ) from None
# Where the snippet sends page views when a `tsunagari collect` server takes them: its public
# URL, e.g. https://collect.example.co.jp (docs/scaling.md). Empty: this web app's /t/collect.
TSUNAGARI_COLLECT_URL = env_str("TSUNAGARI_COLLECT_URL", "").rstrip("/")
if TSUNAGARI_COLLECT_URL and not re.fullmatch(
    r"https?://[^/?#\s\"'<>]+(/[^?#\s\"'<>]*)?", TSUNAGARI_COLLECT_URL
):
    raise ConfigError(
        f"TSUNAGARI_COLLECT_URL={TSUNAGARI_COLLECT_URL!r} is not an http(s) URL "
        "(for example https://collect.example.co.jp)"
    )

# Largest CSV an import accepts; the request body limit follows it.
# API calls per second per token, and bursts (docs/api.md).
TSUNAGARI_API_RATE = env_int("TSUNAGARI_API_RATE", 20)
TSUNAGARI_API_BURST = env_int("TSUNAGARI_API_BURST", 100)
TSUNAGARI_IMPORT_MAX_BYTES = env_int("TSUNAGARI_IMPORT_MAX_BYTES", 50 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_TEMP_DIR = None

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 30)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "tsunagari@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ConfigError("EMAIL_USE_TLS and EMAIL_USE_SSL cannot both be on")

# Production-safe defaults: these hold whatever DEBUG says; HTTPS-only cookies need HTTPS.
HTTPS = env_bool("TSUNAGARI_HTTPS", False)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS and env_bool("TSUNAGARI_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = 31536000 if HTTPS else 0
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if HTTPS else None
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Email: bounces and complaints delivered to a maildir (fetchmail/getmail), sending batches.
TSUNAGARI_BOUNCE_MAILDIR = env_str("TSUNAGARI_BOUNCE_MAILDIR")
TSUNAGARI_MAIL_BATCH = env_int("TSUNAGARI_MAIL_BATCH", 200)
# SMTP (or ESP) connections a worker delivers one batch over at once.
TSUNAGARI_MAIL_CONNECTIONS = env_int("TSUNAGARI_MAIL_CONNECTIONS", 8)
TSUNAGARI_MAIL_LEASE_SECONDS = env_int("TSUNAGARI_MAIL_LEASE_SECONDS", 300)
# django-anymail (ESP sending and webhooks): every ANYMAIL_<NAME> variable becomes
# ANYMAIL["<NAME>"], e.g. ANYMAIL_WEBHOOK_SECRET=user:password, ANYMAIL_SENDGRID_API_KEY=….
ANYMAIL = {
    name.removeprefix("ANYMAIL_"): value
    for name, value in os.environ.items()
    if name.startswith("ANYMAIL_") and value
}
# Journeys: due steps claimed per batch, the claim's lease, a failed step's first retry delay.
TSUNAGARI_JOURNEY_BATCH = env_int("TSUNAGARI_JOURNEY_BATCH", 1000)
TSUNAGARI_JOURNEY_LEASE_SECONDS = env_int("TSUNAGARI_JOURNEY_LEASE_SECONDS", 120)
TSUNAGARI_JOURNEY_RETRY_SECONDS = env_int("TSUNAGARI_JOURNEY_RETRY_SECONDS", 30)
# How often score/grade/date triggers, goals and exits are scanned (per worker process).
TSUNAGARI_JOURNEY_SCAN_SECONDS = env_int("TSUNAGARI_JOURNEY_SCAN_SECONDS", 30)

# Where the worker's batches run: "inline" (in `tsunagari worker` / `serve` itself) or "celery"
# (sent to `celery -A tsunagari worker` processes through CELERY_BROKER_URL; docs/scaling.md).
TSUNAGARI_EXECUTOR = env_str("TSUNAGARI_EXECUTOR", "inline")
if TSUNAGARI_EXECUTOR not in {"inline", "celery"}:
    raise ConfigError(f"TSUNAGARI_EXECUTOR={TSUNAGARI_EXECUTOR!r}: use inline or celery")
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL")
if TSUNAGARI_EXECUTOR == "celery" and not CELERY_BROKER_URL:
    raise ConfigError("TSUNAGARI_EXECUTOR=celery needs CELERY_BROKER_URL (redis:// or amqp://)")
# The dispatcher waits for a batch's outcome before sending that kind again: Redis keeps the
# outcomes itself; with RabbitMQ they come back to the dispatcher over the broker (rpc://).
CELERY_RESULT_BACKEND = env_str(
    "CELERY_RESULT_BACKEND",
    CELERY_BROKER_URL if CELERY_BROKER_URL.startswith(("redis://", "rediss://")) else "rpc://",
)
CELERY_TASK_DEFAULT_QUEUE = env_str("TSUNAGARI_CELERY_QUEUE", "tsunagari")
CELERY_TASK_ACKS_LATE = True  # a batch whose worker died is delivered again (batches are safe)
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_RESULT_EXPIRES = 3600
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Batches of one kind the dispatcher keeps in flight at once (rows are claimed, never shared).
TSUNAGARI_CELERY_PARALLEL = env_int("TSUNAGARI_CELERY_PARALLEL", 4)
# A batch not heard of for this long is taken as lost with its worker, and the dispatcher
# sends another (rows are leased, so a batch that was only slow does no harm twice).
TSUNAGARI_CELERY_LOST_SECONDS = env_int("TSUNAGARI_CELERY_LOST_SECONDS", 120)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
