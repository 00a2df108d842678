"""Limits on what one client may do in a while: the portal's wrong activation codes per
address, the deployment-check API's calls per token and its calls without a valid token per
address. One way to count for all, and one answer to "which client is this?".

A key's window opens with the first event counted under it and closes `seconds` later (a
fixed window, not a sliding one); once it holds `limit` events the key is refused until it
closes. The counts live in the shared cache (Redis in production), so every worker sees the
same count. An event is counted before the work it guards and the work is refused when the
count (this event included) passes the limit: two workers never both see "one left" and
both go ahead.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured

BAD_TRUSTED_PROXY = "TRUSTED_PROXIES: {entry!r} is not an IP address or network."

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ImproperlyConfigured(BAD_TRUSTED_PROXY.format(entry=entry)) from None
    return tuple(networks)


def _trusted(address: Address) -> bool:
    return any(address in network for network in _networks(tuple(settings.TRUSTED_PROXIES)))


def _address(value: str | None) -> Address | None:
    try:
        return ipaddress.ip_address((value or "").strip())
    except ValueError:
        return None


def client_ip(request) -> str | None:
    """The address of the client, None when unknown: what the throttles count by and what
    the logs show.

    `REMOTE_ADDR`, unless it is one of the `TRUSTED_PROXIES` (the TLS proxy in front of
    gunicorn): then X-Forwarded-For is read from its right end, each trusted proxy's hop
    skipped, and the first address no trusted proxy owns is the client. Only the right end
    is believed: the client writes whatever it likes on the left, and a proxy appends what
    it saw. With no trusted proxy configured the header is never read, so nobody can choose
    the address they are counted under.
    """
    remote = _address(request.META.get("REMOTE_ADDR"))
    if remote is None or not _trusted(remote):
        return str(remote) if remote else None
    client = remote
    hops = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:  # not an address: the last one a trusted proxy vouched for
            break
        client = address
        if not _trusted(address):
            break
    return str(client)


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
        for _ in range(3):
            # add() opens the window with this event; otherwise incr() counts it, atomic in
            # the cache (Redis INCR: two workers never get the same number).
            if cache.add(key, 1, timeout=seconds):
                return 1
            try:
                events = cache.incr(key)
            except ValueError:  # the window closed between add and incr: open the next
                continue
            if events <= 1:
                # Redis: a key that expired between the backend's EXISTS and INCR comes
                # back from INCR without an expiry, and would count forever.
                cache.touch(key, seconds)
            return events
        cache.set(key, 1, timeout=seconds)
        return 1

    def admit(self, who: object) -> bool:
        """Count one event of `who`; False when its window already held the limit."""
        return self.count(who) <= self.limit

    def release(self, who: object) -> None:
        """Take back one event counted by `admit`, when the work it guarded turned out not to
        be what the window limits (the portal counts a code before trying it, and takes the
        count back when the code was good)."""
        key = self.key(who)
        try:
            events = cache.decr(key)
        except ValueError:  # the window closed meanwhile: nothing left to take back
            return
        if events <= 0:
            # As in count(): never leave a key without an expiry behind.
            cache.touch(key, self.seconds)

    def reached(self, who: object) -> bool:
        """Has `who`'s window reached the limit? Counts nothing."""
        return cache.get(self.key(who), 0) >= self.limit
