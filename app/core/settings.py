"""Django settings: every value comes from the environment (12-factor), with safe production defaults."""
from __future__ import annotations

from pathlib import Path

import dj_database_url

from core.aprovova_layout import TYPE_DIRS
from core.env import env_bool, env_int, env_list, env_secret, env_str, url_with_password
from core.secret_key import validate_secret_key

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = validate_secret_key(env_secret("SECRET_KEY"), debug=DEBUG)
APP_RELEASE = env_str("APP_RELEASE", "dev")
APP_ENVIRONMENT = env_str("APP_ENVIRONMENT", "development" if DEBUG else "production")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "corsheaders",
    "core",
    "apranova",
]

MIDDLEWARE = [
    # Probes answer before host validation and the HTTPS redirect: load balancers and
    # Docker's HEALTHCHECK call them by IP over plain HTTP.
    "core.probes.ProbeMiddleware",
    "core.metrics.RequestMetricsMiddleware",
    # Before anything that may answer on its own (redirects, static files), so those carry CORS headers too.
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "core.urls"
WSGI_APPLICATION = "core.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Without DATABASE_URL, development gets SQLite; production points at a local PostgreSQL
# that fails on first use, never at import (so /healthz and collectstatic work without a DB).
_default_db = f"sqlite:///{BASE_DIR / 'db.sqlite3'}" if DEBUG else "postgres://apranova@localhost:5432/apranova"
DATABASES = {"default": dj_database_url.parse(env_str("DATABASE_URL", _default_db), conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Deployed hosts keep the passwords out of the URLs (and so out of the environment): see env_secret.
if _database_password := env_secret("DATABASE_PASSWORD"):
    DATABASES["default"]["PASSWORD"] = _database_password
# Set for migrations by the deploy: a migration that waits for a lock behind a long query would
# make every query of the serving release queue behind it; it gives up instead (and is retried).
_timeouts = {"lock_timeout": env_str("DB_LOCK_TIMEOUT"), "statement_timeout": env_str("DB_STATEMENT_TIMEOUT")}
if any(_timeouts.values()) and DATABASES["default"]["ENGINE"].endswith("postgresql"):
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = " ".join(f"-c {k}={v}" for k, v in _timeouts.items() if v)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = url_with_password(env_str("REDIS_URL", "redis://localhost:6379/0"), env_secret("REDIS_PASSWORD"))
# Short socket timeouts: a Redis that does not answer must cost a request a second, not hang it.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
                      "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1}}}
# Sessions read from Redis and written to both: a signed-in request costs no session query, and a
# Redis outage falls back to the database (core.sessions) instead of signing everyone out.
SESSION_ENGINE = "core.sessions"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
# The business time zone: day boundaries of report filters, invoice years, the nightly schedule and
# printed dates. Stored and exported timestamps stay UTC, with the offset written out.
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# ---------------------------------------------------------------- APROVOVA reports
APROVOVA_REPORTS_DIR = Path(env_str("APROVOVA_REPORTS_DIR", str(BASE_DIR / "APROVOVA")))
APROVOVA_USER_REPORTS_DIR = Path(env_str("APROVOVA_USER_REPORTS_DIR", str(APROVOVA_REPORTS_DIR / TYPE_DIRS["users"])))
APROVOVA_PAYMENT_REPORTS_DIR = Path(env_str("APROVOVA_PAYMENT_REPORTS_DIR", str(APROVOVA_REPORTS_DIR / TYPE_DIRS["payments"])))
APROVOVA_BATCH_REPORTS_DIR = Path(env_str("APROVOVA_BATCH_REPORTS_DIR", str(APROVOVA_REPORTS_DIR / TYPE_DIRS["batches"])))
APROVOVA_ANALYTICS_REPORTS_DIR = Path(env_str("APROVOVA_ANALYTICS_REPORTS_DIR", str(APROVOVA_REPORTS_DIR / TYPE_DIRS["analytics"])))
# Uploaded files, on the persistent APROVOVA volume (mounted and backed up with the reports).
# Never served by Django or nginx: nothing public points at it.
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(APROVOVA_REPORTS_DIR / "media")))
MEDIA_URL = "media/"
# At least a day: 0 would let the nightly cleanup delete every report as soon as it is written.
APROVOVA_RETENTION_DAYS = env_int("APROVOVA_RETENTION_DAYS", 90, minimum=1)
# Invoices are business records, never touched by report retention; 0 keeps them forever.
APROVOVA_INVOICE_RETENTION_DAYS = env_int("APROVOVA_INVOICE_RETENTION_DAYS", 0, minimum=0)
# In production nginx serves the file (internal location) once Django has checked the permission.
# Where finished reports are kept: "local" (the tree above) or "s3", an S3-compatible bucket that
# every app host shares (core.report_store). The tree stays the scratch space reports are written in.
APROVOVA_STORAGE = env_str("APROVOVA_STORAGE", "local")
if APROVOVA_STORAGE not in ("local", "s3"):
    raise ValueError(f"APROVOVA_STORAGE={APROVOVA_STORAGE!r} is not one of local, s3")
APROVOVA_S3_ENDPOINT_URL = env_str("APROVOVA_S3_ENDPOINT_URL")
APROVOVA_S3_BUCKET = env_str("APROVOVA_S3_BUCKET")
APROVOVA_S3_REGION = env_str("APROVOVA_S3_REGION", "us-east-1")
APROVOVA_S3_ACCESS_KEY_ID = env_secret("APROVOVA_S3_ACCESS_KEY_ID")
APROVOVA_S3_SECRET_ACCESS_KEY = env_secret("APROVOVA_S3_SECRET_ACCESS_KEY")
# A CA file to verify the endpoint with (an internal CA); empty: the system's public CAs.
APROVOVA_S3_CA_BUNDLE = env_str("APROVOVA_S3_CA_BUNDLE")
if APROVOVA_STORAGE == "s3" and not (APROVOVA_S3_BUCKET and APROVOVA_S3_ACCESS_KEY_ID and APROVOVA_S3_SECRET_ACCESS_KEY):
    raise ValueError("APROVOVA_STORAGE=s3 needs APROVOVA_S3_BUCKET, APROVOVA_S3_ACCESS_KEY_ID and APROVOVA_S3_SECRET_ACCESS_KEY")
APROVOVA_X_ACCEL_REDIRECT = env_bool("APROVOVA_X_ACCEL_REDIRECT", False)
APROVOVA_X_ACCEL_PREFIX = env_str("APROVOVA_X_ACCEL_PREFIX", "/_aprovova/")
# ReportLab keeps every page of a PDF in memory until it saves: more rows than this are refused
# (the API answers 400 and suggests CSV, whose memory is flat). Measured in app/README.md.
APROVOVA_PDF_MAX_ROWS = env_int("APROVOVA_PDF_MAX_ROWS", 50_000, minimum=1)
# type:format pairs that celery beat generates every night.
APROVOVA_DAILY_REPORTS = env_list("APROVOVA_DAILY_REPORTS", "users:csv,payments:csv,batches:pdf,analytics:pdf")

# ---------------------------------------------------------------- CORS
# Browser origins allowed to call the API (scheme://host[:port]); none by default. Only /api/ answers.
CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS")
CORS_URLS_REGEX = r"^/api/.*$"

READYZ_CHECKS = env_list("READYZ_CHECKS", "database,redis,aprovova,storage,migrations")
# /readyz runs its checks at most this often per process (a flood costs nothing), and shows which
# check failed only to these addresses asking directly (Docker, the deploy, the health check);
# through nginx, or from elsewhere, it answers a bare status.
READYZ_CACHE_SECONDS = env_int("READYZ_CACHE_SECONDS", 2, minimum=0)
READYZ_DETAIL_ADDRESSES = env_list("READYZ_DETAIL_ADDRESSES", "127.0.0.1,::1")

# ---------------------------------------------------------------- REST API
REST_FRAMEWORK = {
    # Basic first, so an anonymous client gets 401 with WWW-Authenticate rather than 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "core.throttling.ThrottledBasicAuthentication",
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    "EXCEPTION_HANDLER": "apranova.api.errors.exception_handler",
    # Throttled answers are 429 with Retry-After; rates in APROVOVA_THROTTLE_RATES below.
    # (Anonymous requests get 401 before any throttle: there is no anonymous API view.)
    "DEFAULT_THROTTLE_CLASSES": ["core.throttling.UserThrottle"],
    # nginx in front: the client is the last address of X-Forwarded-For, not nginx's loopback.
    "NUM_PROXIES": env_int("NUM_PROXIES", 1, minimum=0),
    # `?format=` filters reports by format; it must not select a renderer.
    "URL_FORMAT_OVERRIDE": None,
}

# Per minute. Failed sign-ins count per client address, Basic authentication included: each
# guess costs a full PBKDF2 hash, and nginx's 10 r/s alone would allow 600 guesses a minute.
APROVOVA_THROTTLE_RATES = {
    "user": env_str("THROTTLE_USER_RATE", "1200/min"),
    "failed_sign_in": env_str("THROTTLE_FAILED_SIGN_IN_RATE", "10/min"),
}

# ---------------------------------------------------------------- Celery
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = None  # Report rows carry the outcome; no result backend to fill.
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_ACKS_LATE = True  # A worker lost before it claims a report gets the task redelivered.
CELERY_TASK_REJECT_ON_WORKER_LOST = True  # ...also when its process is killed; the claim makes that safe.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1  # Reports are long; don't hoard them on one worker.
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 3600, minimum=60)
# The soft limit raises inside the task, so the report is recorded as failed before the hard kill.
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", CELERY_TASK_TIME_LIMIT - 30, minimum=1)
if CELERY_TASK_SOFT_TIME_LIMIT >= CELERY_TASK_TIME_LIMIT:
    raise ValueError(f"CELERY_TASK_SOFT_TIME_LIMIT={CELERY_TASK_SOFT_TIME_LIMIT} must be below CELERY_TASK_TIME_LIMIT={CELERY_TASK_TIME_LIMIT}")
# One beat sends the schedule however many app hosts run one: redbeat keeps the schedule in Redis,
# and only the beat holding its lock sends tasks. A beat that stops frees the lock (one that dies
# lets it expire after the timeout) and another takes over. The holder renews the lock on every
# tick, so a tick comes at least five times per timeout. (core.celery hands redbeat its settings.)
CELERY_BEAT_SCHEDULER = "redbeat.RedBeatScheduler"
CELERY_REDBEAT_LOCK_TIMEOUT = env_int("CELERY_BEAT_LOCK_TIMEOUT", 60, minimum=10)
CELERY_BEAT_MAX_LOOP_INTERVAL = CELERY_REDBEAT_LOCK_TIMEOUT // 5
# Seconds between the beat's heartbeats: a task the workers run to show that one beat, and only
# one, is sending the schedule (apranova_beat_heartbeat_timestamp_seconds).
APROVOVA_BEAT_HEARTBEAT_SECONDS = env_int("APROVOVA_BEAT_HEARTBEAT_SECONDS", 60, minimum=1)
# Redis hands an unacknowledged task to another worker after the visibility timeout (default one
# hour, the time limit itself): it must outlast a task that waited in a worker's prefetch and then
# ran to the hard limit, or long reports are delivered twice.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 2 * CELERY_TASK_TIME_LIMIT + 600, minimum=CELERY_TASK_TIME_LIMIT + 1),
}
# The sweeper fails reports stuck past these: RUNNING longer than any live worker can run (the hard
# limit kills it), PENDING longer than the queue can plausibly hold it.
APROVOVA_REPORT_RUNNING_LIMIT_SECONDS = env_int(
    "APROVOVA_REPORT_RUNNING_LIMIT_SECONDS", CELERY_TASK_TIME_LIMIT + 600, minimum=CELERY_TASK_TIME_LIMIT + 1)
APROVOVA_REPORT_PENDING_LIMIT_SECONDS = env_int("APROVOVA_REPORT_PENDING_LIMIT_SECONDS", 6 * 3600, minimum=600)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_WORKER_HIJACK_ROOT_LOGGER = False  # Keep Django's JSON log lines in the worker too.

# ---------------------------------------------------------------- security (seed's production block)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
USE_X_FORWARDED_HOST = env_bool("USE_X_FORWARDED_HOST", False)

# ---------------------------------------------------------------- logging: JSON lines on stdout
LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "core.json_logging.JsonFormatter"}},
    "handlers": {"stdout": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout", "formatter": "json"}},
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
