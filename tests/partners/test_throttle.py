"""partners.throttle: which client a request is, and the window counter every limit uses."""

import threading
import uuid

import pytest
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory, override_settings

from partners.throttle import Window, client_ip

PROXY = "10.0.0.2"


def request(remote_addr=PROXY, forwarded=None):
    meta = {"REMOTE_ADDR": remote_addr}
    if forwarded is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **meta)


# --- client_ip ---------------------------------------------------------------------------


def test_without_trusted_proxies_the_forwarded_header_is_ignored(settings):
    settings.TRUSTED_PROXIES = []
    # Otherwise anyone could pick the address they are counted (and logged) under.
    assert client_ip(request("203.0.113.9", forwarded="198.51.100.1")) == "203.0.113.9"


@pytest.mark.parametrize(
    ("forwarded", "client"),
    [
        ("203.0.113.5", "203.0.113.5"),
        # The client wrote the left part itself: only the proxy's own hop is believed.
        ("1.2.3.4, 203.0.113.5", "203.0.113.5"),
        # A chain of trusted proxies is walked back to the first untrusted address.
        ("203.0.113.5, 10.1.2.3, 10.0.0.9", "203.0.113.5"),
        (" 2001:db8::1 ", "2001:db8::1"),
        # Nothing usable: the last trusted hop, never a made-up value.
        ("", PROXY),
        ("not-an-ip", PROXY),
        ("203.0.113.5, garbage", PROXY),
    ],
)
def test_behind_a_trusted_proxy_the_client_is_the_first_untrusted_hop(settings, forwarded, client):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert client_ip(request(forwarded=forwarded)) == client


def test_a_request_from_an_untrusted_address_keeps_its_own_address(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.2"]
    assert client_ip(request("10.0.0.3", forwarded="203.0.113.5")) == "10.0.0.3"


def test_no_or_bad_remote_addr_is_unknown(settings):
    settings.TRUSTED_PROXIES = []
    assert client_ip(request("")) is None
    assert client_ip(request("localhost")) is None


def test_a_bad_trusted_proxy_entry_is_a_configuration_error(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8", "proxy.internal"]
    with pytest.raises(ImproperlyConfigured, match="proxy.internal"):
        client_ip(request())


# --- Window ------------------------------------------------------------------------------

WINDOW = Window("test:window", "TEST_WINDOW_LIMIT", "TEST_WINDOW_SECONDS")


@pytest.fixture
def window_settings(settings):
    settings.TEST_WINDOW_LIMIT = 5
    settings.TEST_WINDOW_SECONDS = 60


@pytest.mark.usefixtures("window_settings")
def test_admit_counts_first_and_refuses_past_the_limit():
    assert [WINDOW.admit("a") for _ in range(7)] == [True] * 5 + [False] * 2
    assert WINDOW.reached("a")
    assert not WINDOW.reached("b") and WINDOW.admit("b")


@pytest.mark.usefixtures("window_settings")
def test_release_takes_back_one_event():
    for _ in range(5):
        WINDOW.admit("a")
    WINDOW.release("a")
    assert not WINDOW.reached("a")
    assert WINDOW.admit("a") and not WINDOW.admit("a")


@pytest.mark.usefixtures("window_settings")
def test_release_after_the_window_closed_changes_nothing():
    WINDOW.release("gone")
    assert WINDOW.count("gone") == 1


@pytest.mark.usefixtures("window_settings")
def test_the_window_closes_after_its_seconds(time_machine):
    # locmem's expiry reads time.time(), which time-machine moves.
    time_machine.move_to("2026-01-01 12:00:00Z", tick=False)
    for _ in range(5):
        WINDOW.admit("a")
    time_machine.move_to("2026-01-01 12:01:01Z", tick=False)
    assert not WINDOW.reached("a")
    assert WINDOW.count("a") == 1


def count_together(n: int, who: str = "a") -> list[int]:
    barrier = threading.Barrier(n)
    counts = []

    def worker():
        barrier.wait()
        counts.append(WINDOW.count(who))

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return counts


@pytest.mark.usefixtures("window_settings")
def test_concurrent_counts_never_get_the_same_number():
    assert sorted(count_together(40)) == list(range(1, 41))


REDIS_CACHE = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        # A database of its own: the tests never meet a development cache.
        "LOCATION": "redis://127.0.0.1:6379/14",
        "KEY_PREFIX": "test-throttle",
    }
}


@pytest.fixture
def redis_cache(window_settings):
    import os

    import redis

    try:
        redis.Redis.from_url(REDIS_CACHE["default"]["LOCATION"]).ping()
    except redis.exceptions.ConnectionError:
        if os.environ.get("REQUIRE_SERVICES"):
            pytest.fail("this test needs Redis")
        pytest.skip("needs Redis (CI runs it)")
    # A client of its own: other runs of the suite may share this Redis database.
    who = f"client-{uuid.uuid4().hex}"
    with override_settings(CACHES=REDIS_CACHE):
        yield who
        cache.delete(WINDOW.key(who))


def redis_ttl(key: str) -> int:
    return cache._cache.get_client(key).ttl(cache.make_and_validate_key(key))


def test_on_redis_concurrent_counts_are_atomic_and_the_window_expires(redis_cache):
    who = redis_cache
    assert sorted(count_together(40, who)) == list(range(1, 41))
    assert 0 < redis_ttl(WINDOW.key(who)) <= 60


def test_on_redis_a_counter_left_without_expiry_gets_one_back(redis_cache):
    # What INCR leaves when the key expired between the backend's EXISTS and INCR: a counter
    # without expiry, which would keep an address throttled for ever.
    who = redis_cache
    cache.set(WINDOW.key(who), 0, timeout=None)
    assert WINDOW.count(who) == 1
    assert 0 < redis_ttl(WINDOW.key(who)) <= 60
    cache.set(WINDOW.key(who), 0, timeout=None)
    WINDOW.release(who)
    assert 0 < redis_ttl(WINDOW.key(who)) <= 60
