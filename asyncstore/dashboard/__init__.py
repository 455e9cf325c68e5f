"""asyncstore's live web dashboard: `asyncstore dashboard --url URL`, or `create_app(url)` as an
ASGI app (Starlette; install the `dashboard` extra). See asyncstore.dashboard.app."""

from asyncstore.dashboard.app import Dashboard, DashboardOptions, create_app

__all__ = ["Dashboard", "DashboardOptions", "create_app"]
