"""End-to-end tests: the middleware behind real nginx, Apache and mod_wsgi-express (issue 6)."""
