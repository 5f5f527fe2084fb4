"""The test project's URLs, each named (``reverse`` and ``redirect`` use the names)."""

from __future__ import annotations

from django.urls import path

from django_site import views

urlpatterns = [
    path("", views.target, name="home"),
    path("info/", views.info, name="info"),
    path("go/", views.go, name="go"),
    path("target/", views.target, name="target"),
    path("submit/", views.submit, name="submit"),
]
