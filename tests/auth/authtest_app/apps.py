"""Mounts the test resources under ``/things``."""

from __future__ import annotations

from findig.project.apps import AppConfig


class ThingsConfig(AppConfig):
    label = "things"
    url_prefix = "/things"
