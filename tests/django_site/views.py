"""Views that answer with what Django's request API reports."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import get_script_prefix, reverse


def info(request: HttpRequest) -> HttpResponse:
    """What the request API says of this request (``get_host`` may raise
    ``DisallowedHost``: Django answers 400)."""
    return JsonResponse({
        "remote_addr": request.META.get("REMOTE_ADDR"),
        "secure": request.is_secure(),
        "scheme": request.scheme,
        "host": request.get_host(),
        "port": request.get_port(),
        "script_name": request.META.get("SCRIPT_NAME"),
        "script_prefix": get_script_prefix(),
        "path": request.path,
        "path_info": request.path_info,
        "here": request.build_absolute_uri(),
        "target": request.build_absolute_uri(reverse("target")),
        "x_forwarded_for": request.META.get("HTTP_X_FORWARDED_FOR"),
        "forwarded": sorted(key for key in request.META
                            if key.startswith("HTTP_X_FORWARDED")),
    })


def go(request: HttpRequest) -> HttpResponse:
    """``redirect()`` to a named URL."""
    return redirect("target")


def target(request: HttpRequest) -> HttpResponse:
    return HttpResponse("target")


def submit(request: HttpRequest) -> HttpResponse:
    """Reached only when CsrfViewMiddleware let the POST through."""
    return HttpResponse("accepted")
