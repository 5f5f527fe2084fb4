"""A minimal Django project for tests/test_frameworks.py: the real framework
behind trustedproxy, with the request APIs its views report as JSON.

Django's own proxy settings (``USE_X_FORWARDED_HOST``, ``USE_X_FORWARDED_PORT``,
``SECURE_PROXY_SSL_HEADER``) stay off: every value the views report comes from
the environ or scope that trustedproxy fixed. The package holds no trustedproxy
wiring itself (tests wrap Django's handlers) and configures nothing on import:
the tests call ``settings.configure`` with this package's ``settings`` module's
values, and the uvicorn test names it in ``DJANGO_SETTINGS_MODULE`` in the
server's own process.
"""
