"""Every console API route, from the modules that handle them (the server hands them to build_console)."""

from __future__ import annotations

from ui import api_admin, api_buckets, api_lifecycle, api_ops, api_versions
from ui.app import Route

ROUTES: tuple[Route, ...] = (
    *api_buckets.ROUTES,
    *api_versions.ROUTES,
    *api_lifecycle.ROUTES,
    *api_admin.ROUTES,
    *api_ops.ROUTES,
)
