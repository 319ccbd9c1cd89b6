"""Settings, twelve-factor style: everything that differs between machines
comes from the environment."""

import json
import os
from pathlib import Path
from typing import Any

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent

# A local site's settings file (var/local.env, made by scripts/run; callsite/local_env.py)
# fills in what the environment leaves unset. Never read under pytest or in production.
from callsite.local_env import load_local_settings  # noqa: E402
from callsite.site_prefix import site_prefix  # noqa: E402

load_local_settings()


def env_bool(name: str, default: bool) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    # A public key signs sessions anyone could forge: only for DEBUG runs
    # (scripts/run); anything else refuses to start (the tests set a random one).
    if not DEBUG:
        raise RuntimeError("SECRET_KEY must be set whenever DEBUG is off")
    SECRET_KEY = "dev-insecure-only-for-local-runs-" + "x" * 32
ALLOWED_HOSTS = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h.strip()]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "corsheaders",
    "callsite",  # before django_rq: its rqworker listens on CALL_QUEUE when no queue is named
    "django_rq",
    "ninja",
    "invitations",
]

MIDDLEWARE = [
    # first: it answers preflights before anything else answers
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # after sessions, before common: the language from the Settings switch (cookie), else the browser's
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "invitations.web.middleware.ApiMiddleware",
]

ROOT_URLCONF = "callsite.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
ASGI_APPLICATION = "callsite.asgi.application"
WSGI_APPLICATION = "callsite.wsgi.application"

database_url = os.environ.get("DATABASE_URL", "").strip()  # lower case: not a setting (the debug page shows those)
DATABASES = {
    "default": dj_database_url.parse(
        database_url,
        conn_max_age=env_int("DB_CONN_MAX_AGE", 0),
        conn_health_checks=True,
    )
    if database_url
    else {"ENGINE": ""}
}
if DATABASES["default"]["ENGINE"] not in ("django.db.backends.postgresql", "django.contrib.gis.db.backends.postgis"):
    # PostgreSQL is the only database: the hot statements are PostgreSQL's (invitations/calls/sql.py).
    raise RuntimeError(
        "DATABASE_URL must name a PostgreSQL database (postgres://user@host:5432/name)"
        + (f" (it names {database_url.split(':', 1)[0]})" if database_url else "; it is not set")
        + ". scripts/run starts one (embedded, data in var/postgres) and sets it while the site runs; "
        "or set DATABASE_URL in the environment or in var/local.env."
    )
if env_bool("DB_POOL", True):
    # Under ASGI each request runs in a thread of its own, so persistent
    # connections pile up (one per dead thread): a pool per process instead.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": env_int("DB_POOL_MAX_SIZE", 10),
        "timeout": 20,
    }
# The hot statements (invitations/calls/roundtrip.py) are PREPAREd once per connection
# when this is not None; Django's own queries bind client-side and are never
# prepared. None for a pooler in transaction mode that cannot keep them.
DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
    "prepare_threshold", 1_000_000_000 if env_bool("DB_PREPARED_STATEMENTS", True) else None
)
if env_bool("DB_HEARTBEAT_CONNECTION", True):
    # A web process's heartbeat (invitations/realtime/web_process.py) gets a connection
    # of its own, outside the pool: an exhausted pool must not get a live
    # process reaped. One persistent connection per web process.
    DATABASES["heartbeat"] = {
        **DATABASES["default"],
        "CONN_MAX_AGE": None,
        "OPTIONS": {k: v for k, v in DATABASES["default"].get("OPTIONS", {}).items() if k != "pool"},
        "TEST": {"MIRROR": "default"},
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


# Keeps test runs and several sites on one Redis apart: pub/sub ignores the db number,
# so two sites sharing a prefix ring each other's users. Unset, each site has its own.
REDIS_PREFIX = os.environ.get("REDIS_PREFIX") or site_prefix(DATABASES["default"], REDIS_URL)

CHANNEL_LAYERS: dict[str, dict[str, Any]] = {
    "default": {
        # Pub/sub layer: lower latency and higher fan-out than the list-based
        # layer (measured, see docs/performance.md); delivery is at most once
        # either way, and clients resync from the database by seq.
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": REDIS_PREFIX},
    }
}

# RQ's queue; `manage.py rqworker` with no queue named listens on it
# (callsite/management/commands/rqworker.py). The site's own by default, as the prefix.
CALL_QUEUE = os.environ.get("CALL_QUEUE") or REDIS_PREFIX
RQ_QUEUES = {CALL_QUEUE: {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 60}}
RQ = {"WORKER_CLASS": "invitations.worker.runner.CallWorker"}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
# The page, the /calls/ pages, the admin's additions and the JavaScript catalog (/jsi18n/)
# speak these; the browser's Accept-Language chooses, the Settings switch overrides (cookie).
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "var" / "staticfiles"
# Daphne serves /static/ itself unless a reverse proxy does (SERVE_STATIC=0).
SERVE_STATIC = env_bool("SERVE_STATIC", True)

# PROTOCOL limits and timings.
CALL_DEFAULT_TIMEOUT_SECONDS = 90
CALL_MAX_TIMEOUT_SECONDS = 600
CALL_MAX_PARTICIPANTS = 10
CALL_NOT_RECEIVED_CHECK_SECONDS = env_float("CALL_NOT_RECEIVED_CHECK_SECONDS", 5)
CALL_HEARTBEAT_TIMEOUT_SECONDS = env_float("CALL_HEARTBEAT_TIMEOUT_SECONDS", 30)
# How often each worker expires whatever a lost or late job missed.
CALL_SWEEP_INTERVAL_SECONDS = env_float("CALL_SWEEP_INTERVAL_SECONDS", 2)
# The worker's deadline waiter (invitations/worker/runner.py): after a round that expired
# something the next waits at least this long (rounds of a few calls cost more per
# call); concurrent transactions for a burst (PostgreSQL).
CALL_EXPIRE_MIN_GAP_SECONDS = env_float("CALL_EXPIRE_MIN_GAP_SECONDS", 0.1)
CALL_EXPIRE_STREAMS = env_int("CALL_EXPIRE_STREAMS", 1)
# How often a web process proves it is alive; its connections are dropped
# after CALL_SERVER_STALE_SECONDS without a heartbeat (a killed process).
CALL_SERVER_HEARTBEAT_SECONDS = env_float("CALL_SERVER_HEARTBEAT_SECONDS", 5)
CALL_SERVER_STALE_SECONDS = env_float("CALL_SERVER_STALE_SECONDS", 20)
# API bearer tokens expire this long after they are made; 0: never.
API_TOKEN_LIFETIME_SECONDS = env_int("API_TOKEN_LIFETIME_SECONDS", 30 * 24 * 3600)
# Live API tokens per user; one more sign-in revokes the least recently used. 0: no cap.
CALL_MAX_TOKENS_PER_USER = env_int("CALL_MAX_TOKENS_PER_USER", 20)
# Open WebSockets per user (checked at connect, under the user's row lock); 0: no limit.
CALL_MAX_SOCKETS_PER_USER = env_int("CALL_MAX_SOCKETS_PER_USER", 20)
# Largest WebSocket frame a client may send.
CALL_MAX_FRAME_BYTES = 64 * 1024
# Commands per WebSocket (a token bucket per socket): this many a second, bursts of
# CALL_SOCKET_COMMANDS_BURST; beyond that a command answers rate_limited. 0: no limit.
CALL_SOCKET_COMMANDS_PER_SECOND = env_float("CALL_SOCKET_COMMANDS_PER_SECOND", 20)
CALL_SOCKET_COMMANDS_BURST = env_int("CALL_SOCKET_COMMANDS_BURST", 40)
# A WebSocket whose unsent output passes this many bytes is closed with 4408
# (enforced by the site's server, callsite/daphne_server.py). 0: no limit.
CALL_SOCKET_MAX_BUFFER_BYTES = env_int("CALL_SOCKET_MAX_BUFFER_BYTES", 1024 * 1024)
# A socket from an app's origin without credentials has this long to send its `auth` frame.
CALL_SOCKET_AUTH_SECONDS = env_float("CALL_SOCKET_AUTH_SECONDS", 10)

# Apps (PROTOCOL "Apps"; invitations/accounts/apps.py). After a rotation the previous
# server secret is still accepted this long (a token lives at most 24 hours).
APP_SECRET_GRACE_HOURS = env_float("APP_SECRET_GRACE_HOURS", 24)
# Cross-origin requests (django-cors-headers): only under /api/, only for the origins of
# enabled apps (the signal handler in invitations/accounts/cors.py), bearer tokens only.
CORS_URLS_REGEX = r"^/api/"
CORS_ALLOWED_ORIGINS: list[str] = []
CORS_ALLOW_CREDENTIALS = False
CORS_ALLOW_HEADERS = ["authorization", "content-type"]
CORS_ALLOW_METHODS = ["DELETE", "GET", "OPTIONS", "POST", "PUT"]
CORS_PREFLIGHT_MAX_AGE = 600  # an origin taken from an app stops working within 10 minutes

# Media between members (WebRTC, PROTOCOL "Media signaling"; invitations/media/signaling.py).
# General-mode calls end once everyone answered; signals still pass this long after createTime.
CALL_MEDIA_MAX_SECONDS = env_float("CALL_MEDIA_MAX_SECONDS", 14400)
CALL_SIGNAL_RATE_PER_MINUTE = env_int("CALL_SIGNAL_RATE_PER_MINUTE", 600)  # per user; 0 turns it off
CALL_SIGNAL_MAX_PAYLOAD_BYTES = 16 * 1024
# RTCIceServer entries as JSON, e.g. [{"urls": "stun:turn.example.org:3478"},
# {"urls": ["turn:turn.example.org:3478?transport=udp"]}]; a turn:/turns: entry without
# username/credential gets coturn REST credentials when CALL_TURN_SECRET is set. TURN
# entries go only to a user Accepted in a call whose media may flow; the credentials
# last CALL_TURN_TTL_SECONDS (the page asks again before they run out).
CALL_ICE_SERVERS = json.loads(os.environ.get("CALL_ICE_SERVERS", "[]"))
CALL_TURN_SECRET = os.environ.get("CALL_TURN_SECRET", "")
CALL_TURN_TTL_SECONDS = env_int("CALL_TURN_TTL_SECONDS", 3600)

# Media servers (PROTOCOL "Media sessions"; invitations/media/, docs/deploy.md "Media servers
# (Janus)"): Janus WebSocket URLs as browsers reach them (the site reaches them too). Unset:
# every call is peer to peer. Calls that have had three Accepted members get a VideoRoom.
CALL_SFU_URLS = [u.strip() for u in os.environ.get("CALL_SFU_URLS", "").split(",") if u.strip()]
CALL_SFU_TOKEN_SECRET = os.environ.get("CALL_SFU_TOKEN_SECRET", "")  # Janus's token_auth_secret
CALL_SFU_ADMIN_KEY = os.environ.get("CALL_SFU_ADMIN_KEY", "")  # the VideoRoom's admin_key
# Each room's secret (kick, destroy, its allowed list) is derived from this and the room.
CALL_SFU_ROOM_SECRET = os.environ.get("CALL_SFU_ROOM_SECRET", "") or SECRET_KEY
# A member's token lasts this long (Janus checks it on every request of the page's session,
# keepalives too): long enough for most calls; the page asks again before expiresAt.
CALL_SFU_TOKEN_TTL_SECONDS = env_int("CALL_SFU_TOKEN_TTL_SECONDS", 7200)
# One request to a Janus (connect included) may take this long.
CALL_SFU_TIMEOUT_SECONDS = env_float("CALL_SFU_TIMEOUT_SECONDS", 5)
# A Janus that stopped answering gets no new room for this long (unless a check finds it back).
CALL_SFU_RETRY_SECONDS = env_float("CALL_SFU_RETRY_SECONDS", 30)
# The workers ask each Janus for its `info` this often; this many failed checks in a row mark it down.
CALL_SFU_CHECK_SECONDS = env_float("CALL_SFU_CHECK_SECONDS", 10)
CALL_SFU_DOWN_AFTER_FAILURES = env_int("CALL_SFU_DOWN_AFTER_FAILURES", 2)
# Room work (kick, destroy) is retried with backoff, this many tries in all.
CALL_SFU_TASK_MAX_ATTEMPTS = env_int("CALL_SFU_TASK_MAX_ATTEMPTS", 12)
if CALL_SFU_URLS and not (CALL_SFU_TOKEN_SECRET and CALL_SFU_ADMIN_KEY):
    raise RuntimeError("CALL_SFU_URLS needs CALL_SFU_TOKEN_SECRET and CALL_SFU_ADMIN_KEY")

# Rate limits (invitations/accounts/ratelimit.py); 0 turns one off. Production
# defaults: tests (tests/isolation.py) and benchmarks (bench/lib.py) raise them.
RATE_LIMIT_INVITES_PER_MINUTE = env_int("RATE_LIMIT_INVITES_PER_MINUTE", 30)
RATE_LIMIT_INVITEES_PER_MINUTE = env_int("RATE_LIMIT_INVITEES_PER_MINUTE", 100)
# Failed sign-ins per (username, client address) and per client address.
RATE_LIMIT_AUTH_FAILURES_PER_USERNAME = env_int("RATE_LIMIT_AUTH_FAILURES_PER_USERNAME", 10)
RATE_LIMIT_AUTH_FAILURES_PER_IP = env_int("RATE_LIMIT_AUTH_FAILURES_PER_IP", 100)
RATE_LIMIT_AUTH_WINDOW_SECONDS = env_int("RATE_LIMIT_AUTH_WINDOW_SECONDS", 300)
# failed app-token checks per client address per RATE_LIMIT_AUTH_WINDOW_SECONDS (PROTOCOL "Apps")
RATE_LIMIT_APP_TOKEN_FAILURES_PER_IP = env_int("RATE_LIMIT_APP_TOKEN_FAILURES_PER_IP", 100)
AUTHENTICATION_BACKENDS = [
    # ModelBackend with the sign-in limits; its answer is final
    "invitations.accounts.ratelimit.RateLimitBackend",
    # never asked to authenticate; here so that sessions naming it stay valid
    "django.contrib.auth.backends.ModelBackend",
]
# How many reverse proxies in front append to X-Forwarded-For (the shipped
# nginx: 1); the client address is the hop left of theirs. 0: Daphne faces
# clients and X-Forwarded-For is ignored. Daphne runs without --proxy-headers.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
    "loggers": {"invitations": {"level": os.environ.get("LOG_LEVEL", "INFO")}},
}

# Production hardening (docs/deploy.md): DJANGO_ENV=production means HTTPS behind a
# TLS-terminating reverse proxy; `check --deploy` then passes with no warning.
# Off otherwise, so scripts/run and the tests keep working over plain http.
PRODUCTION = os.environ.get("DJANGO_ENV", "").strip().lower() == "production"
if PRODUCTION:
    if DEBUG:
        raise RuntimeError("DEBUG must be off when DJANGO_ENV=production")
    if not os.environ.get("SECRET_KEY"):
        raise RuntimeError("SECRET_KEY must be set when DJANGO_ENV=production")
    # The proxy terminates TLS and says so in X-Forwarded-Proto (it must overwrite any client value).
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
elif not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", False)
    CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", False)

# --- Offline push (Web Push) and webhooks (docs/protocol.md, "Push and webhooks") ---
# VAPID: the raw 32-byte P-256 private key, base64url; unset, the site makes a
# key pair once and keeps it in the database (every process shares it).
VAPID_PRIVATE_KEY = os.environ.get("VAPID_PRIVATE_KEY", "").strip()
VAPID_SUBJECT = os.environ.get("VAPID_SUBJECT", "").strip() or "mailto:webmaster@localhost"
# Host suffixes a subscription's endpoint may be on: the browsers' push services.
CALL_PUSH_ENDPOINT_HOSTS = [
    h.strip().lower()
    for h in os.environ.get(
        "CALL_PUSH_ENDPOINT_HOSTS",
        "fcm.googleapis.com,android.googleapis.com,push.services.mozilla.com,notify.windows.com,push.apple.com",
    ).split(",")
    if h.strip()
]
# Tests only: also allow http:// on those hosts (a local push service).
CALL_PUSH_ALLOW_HTTP = env_bool("CALL_PUSH_ALLOW_HTTP", False)
# A push with no deadline (timeout 0) and a closing push live this long at the push service.
CALL_PUSH_MAX_TTL_SECONDS = env_int("CALL_PUSH_MAX_TTL_SECONDS", 86400)
CALL_PUSH_CLOSE_TTL_SECONDS = env_int("CALL_PUSH_CLOSE_TTL_SECONDS", 3600)
CALL_PUSH_RETRY_BASE_SECONDS = env_float("CALL_PUSH_RETRY_BASE_SECONDS", 2)
CALL_PUSH_RETRY_MAX_SECONDS = env_float("CALL_PUSH_RETRY_MAX_SECONDS", 60)
CALL_PUSH_MAX_ATTEMPTS = env_int("CALL_PUSH_MAX_ATTEMPTS", 12)
# Webhook delivery: exponential backoff with jitter, base x 4^(n-1), capped.
# Defaults: 8 tries over about 7.5 hours (PROTOCOL: at least 5 over at least an hour).
CALL_WEBHOOK_RETRY_BASE_SECONDS = env_float("CALL_WEBHOOK_RETRY_BASE_SECONDS", 5)
CALL_WEBHOOK_RETRY_MAX_SECONDS = env_float("CALL_WEBHOOK_RETRY_MAX_SECONDS", 6 * 3600)
CALL_WEBHOOK_MAX_ATTEMPTS = env_int("CALL_WEBHOOK_MAX_ATTEMPTS", 8)
CALL_WEBHOOK_SECRET_GRACE_HOURS = env_float("CALL_WEBHOOK_SECRET_GRACE_HOURS", 24)
# One HTTP request (push service or webhook receiver) may take this long; an
# attempt whose worker died is retried after CALL_OUTBOX_LEASE_SECONDS.
CALL_OUTBOX_HTTP_TIMEOUT_SECONDS = env_float("CALL_OUTBOX_HTTP_TIMEOUT_SECONDS", 10)
CALL_OUTBOX_LEASE_SECONDS = env_float("CALL_OUTBOX_LEASE_SECONDS", 30)
# The whole exchange (connect, send, answer) ends by this deadline, a peer
# dripping bytes included; it must end before the lease, or a second worker
# would send the same message while the first still runs.
CALL_OUTBOX_HTTP_DEADLINE_SECONDS = env_float(
    "CALL_OUTBOX_HTTP_DEADLINE_SECONDS", round(CALL_OUTBOX_LEASE_SECONDS * 2 / 3, 3)
)
if not 0 < CALL_OUTBOX_HTTP_DEADLINE_SECONDS < CALL_OUTBOX_LEASE_SECONDS:
    raise RuntimeError("CALL_OUTBOX_HTTP_DEADLINE_SECONDS must be above 0 and below CALL_OUTBOX_LEASE_SECONDS")
# Webhook hosts that may be or resolve to loopback, link-local or private
# addresses (a site's own receivers on its network); any other such URL is refused.
CALL_WEBHOOK_PRIVATE_HOSTS = [
    h.strip().lower() for h in os.environ.get("CALL_WEBHOOK_PRIVATE_HOSTS", "").split(",") if h.strip()
]
# Each worker sends this many deliveries at once (threads beside its job loop).
CALL_OUTBOX_THREADS = env_int("CALL_OUTBOX_THREADS", 4)
# The sweep re-queues a due message this long after it fell due (its job was lost).
CALL_OUTBOX_REQUEUE_AFTER_SECONDS = env_float("CALL_OUTBOX_REQUEUE_AFTER_SECONDS", 10)

# Retention (invitations/worker/retention.py): days each kind is kept, 0 forever.
# Finished outbox rows (push and webhooks) after delivery, or after their last
# attempt when failed (given up) or dropped; webhook attempts after they started;
# expired tokens after expiry, revoked ones after their last use. Each worker
# prunes on start and every CALL_RETENTION_INTERVAL_SECONDS, a batch per transaction.
CALL_RETAIN_DELIVERED_DAYS = env_float("CALL_RETAIN_DELIVERED_DAYS", 7)
CALL_RETAIN_FAILED_DAYS = env_float("CALL_RETAIN_FAILED_DAYS", 30)
CALL_RETAIN_DROPPED_DAYS = env_float("CALL_RETAIN_DROPPED_DAYS", 2)
CALL_RETAIN_WEBHOOK_ATTEMPTS_DAYS = env_float("CALL_RETAIN_WEBHOOK_ATTEMPTS_DAYS", 30)
CALL_RETAIN_DEAD_TOKENS_DAYS = env_float("CALL_RETAIN_DEAD_TOKENS_DAYS", 30)
CALL_RETENTION_INTERVAL_SECONDS = env_float("CALL_RETENTION_INTERVAL_SECONDS", 3600)
CALL_RETENTION_BATCH = env_int("CALL_RETENTION_BATCH", 1000)
