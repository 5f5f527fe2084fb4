"""Differential tests: trustedproxy against the real mod_wsgi 6.1.1 (issue 6)."""
