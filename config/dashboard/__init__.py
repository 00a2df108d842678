"""The admin index's dashboard: cards across partners, licensing and IPP, and the expiry
chart. It spans the apps, so it lives in the project, above them."""

from .cards import dashboard

__all__ = ["dashboard"]
