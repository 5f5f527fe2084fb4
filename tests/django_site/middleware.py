"""A middleware that reports what Django saw on every response, even on the
redirects and refusals that the middleware after it answers with."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse


def observe(get_response: Callable[[HttpRequest], HttpResponse]
            ) -> Callable[[HttpRequest], HttpResponse]:
    """Add ``X-Seen-*`` headers: ``REMOTE_ADDR``, ``is_secure()`` and the
    ``X-Forwarded-*`` keys left in ``request.META``."""

    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        response["X-Seen-Remote-Addr"] = request.META.get("REMOTE_ADDR", "")
        response["X-Seen-Secure"] = "yes" if request.is_secure() else "no"
        response["X-Seen-Forwarded"] = ",".join(
            sorted(key for key in request.META if key.startswith("HTTP_X_FORWARDED")))
        return response

    return middleware
