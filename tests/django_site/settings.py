"""Settings of the test project (see the package docstring)."""

from __future__ import annotations

SECRET_KEY = "trustedproxy-tests-only-not-a-secret-0123456789abcdefghij"
DEBUG = False
ALLOWED_HOSTS = ["public.example", "backend.internal", "127.0.0.1"]
ROOT_URLCONF = "django_site.urls"
INSTALLED_APPS: list[str] = []
DATABASES: dict[str, dict[str, str]] = {}
MIDDLEWARE = [
    "django_site.middleware.observe",  # outermost: sees every response, redirects included
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
]
USE_TZ = True
TIME_ZONE = "UTC"
# Django leaves logging alone, so that the test process's logging stays as pytest set it.
LOGGING_CONFIG = None

# Django's own proxy handling stays off: only trustedproxy decides.
USE_X_FORWARDED_HOST = False
USE_X_FORWARDED_PORT = False
SECURE_PROXY_SSL_HEADER = None
# Tests switch it on where they check it.
SECURE_SSL_REDIRECT = False
