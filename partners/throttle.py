"""Limits on what one client may do in a while: the portal's wrong activation codes per
address, the deployment-check API's calls per token. One way to count for both.

A key's window opens with the first event counted under it and closes `seconds` later (a
fixed window, not a sliding one); once it holds `limit` events the key is refused until it
closes. The counts live in the shared cache (Redis in production), so every worker sees the
same count.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache


def client_ip(request) -> str | None:
    """The address the request came from, None when unknown: what the portal counts by and
    what the logs show."""
    return request.META.get("REMOTE_ADDR") or None


@dataclass(frozen=True)
class Window:
    """Events counted per key (`prefix:who`) in a window. The limit and the window's length
    are settings, read at each use so a change (or a test's override) applies at once."""

    prefix: str
    limit_setting: str
    seconds_setting: str

    @property
    def limit(self) -> int:
        return getattr(settings, self.limit_setting)

    @property
    def seconds(self) -> int:
        return getattr(settings, self.seconds_setting)

    def key(self, who: object) -> str:
        # Clients without an address share one count rather than escape it.
        return f"{self.prefix}:{'unknown' if who in (None, '') else who}"

    def count(self, who: object) -> int:
        """Count one event of `who`: how many its window holds now, this one included."""
        key, seconds = self.key(who), self.seconds
        # add() opens the window once; incr() is atomic in the cache (two workers never
        # count the same number) and keeps the window's expiry.
        cache.add(key, 0, timeout=seconds)
        try:
            return cache.incr(key)
        except ValueError:  # the window closed between add and incr: this event opens one
            cache.set(key, 1, timeout=seconds)
            return 1

    def admit(self, who: object) -> bool:
        """Count one event of `who`; False when its window already held the limit."""
        return self.count(who) <= self.limit

    def reached(self, who: object) -> bool:
        """Has `who`'s window reached the limit? Counts nothing."""
        return cache.get(self.key(who), 0) >= self.limit
