"""The whole admin API table: storage and faults (admin.py), users and keys, health, statistics,
lifecycle passes."""

from __future__ import annotations

from s3server.ops import admin, health, lifecycle, stats, users

ADMIN_ROUTES: tuple[admin.Route, ...] = (
    admin.ROUTES + users.ROUTES + health.ROUTES + stats.ROUTES + lifecycle.ROUTES
)
