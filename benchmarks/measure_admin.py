"""The admin part, in one child process serving both sizes (the large database as a second
connection, swapped in as the default one), their requests taking turns.

Every changelist of `admin.site._registry` (auth and axes left out) and the admin index (the
dashboard), as the licensing team and as a channel manager of one region out of ten: the
queries of one request, then the median time of --repeat requests after a warm-up one. A
page that holds fewer rows at the small size is measured once more at the large size with
`list_per_page` cut to the small page's rows.
"""

from __future__ import annotations

import contextlib
import re
import statistics
import time

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.cache import caches
from django.db import connection, connections
from django.test import Client
from django.test.utils import CaptureQueriesContext, setup_test_environment
from django.urls import reverse

from partners import dashboard_cache

# isort: split
# The modules beside this one (run as a script, its directory comes first on sys.path).
from common import SIZES, fmt_ms, log

LICENSING_USER = "scale.licensing"
CHANNEL_MANAGER = "scale.cm.emea-south"
USERS = (("licensing", LICENSING_USER), ("channel mgr", CHANNEL_MANAGER))
SKIPPED_APPS = {"auth", "axes"}


class TwoSizes:
    """Both databases in one process, the requests of the two sizes taking turns.

    The machine's speed drifts (other work, CPU frequency): two sizes measured one after
    the other compare two moments as much as two sizes. Here each request to the small
    database is followed by the same request to the large one. `use("large")` makes the
    "large" database connection and its own cache (the dashboard's figures are cached
    per database) the default ones for the requests made inside it."""

    def __init__(self):
        self.handlers = (connections, caches)
        self.content_types = ContentType.objects
        self.other_content_types: dict = {}  # the cache of the size not in use

    @contextlib.contextmanager
    def use(self, key: str):
        if key == "small":
            yield
            return
        self._swap()
        try:
            yield
        finally:
            self._swap()

    def _swap(self) -> None:
        for handler in self.handlers:
            default, large = handler["default"], handler["large"]
            handler._connections.default = large
            handler._connections.large = default
        # Content type ids may differ between the databases: each size keeps its own.
        self.content_types._cache, self.other_content_types = (
            self.other_content_types,
            self.content_types._cache,
        )


def unchanged():
    pass


class AdminPages:
    """The pages to measure, and a logged-in client per size and user to request them."""

    def __init__(self):
        self.sizes = TwoSizes()
        User = get_user_model()
        self.clients = {}
        for key in SIZES:
            with self.sizes.use(key):
                for who, username in USERS:
                    self.clients[key, who] = Client()
                    self.clients[key, who].force_login(User.objects.get(username=username))
        index = reverse("admin:index")
        # (label, url, what happens before each request): the dashboard as users meet it (its
        # figures cached until the data changes), and counted, as after every change.
        self.pages = [
            ("admin index (dashboard)", index, unchanged),
            ("admin index (dashboard), figures counted", index, dashboard_cache.data_changed),
        ]
        self.admins = {}
        for model, model_admin in admin.site._registry.items():
            meta = model._meta
            if meta.app_label in SKIPPED_APPS:
                continue
            url = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
            self.pages.append((f"{meta.app_label}.{meta.model_name} list", url, unchanged))
            self.admins[url] = model_admin

    @contextlib.contextmanager
    def page_size(self, url, rows):
        if rows is None:
            yield
            return
        self.admins[url].list_per_page = max(rows, 1)
        try:
            yield
        finally:
            del self.admins[url].list_per_page  # back to the class's page size

    def get(self, key, who, url, before, rows=None):
        """One request; (seconds, response)."""
        with self.sizes.use(key), self.page_size(url, rows):
            before()
            started = time.perf_counter()
            response = self.clients[key, who].get(url)
            return time.perf_counter() - started, response

    def queries_of(self, key, who, url, before, rows=None) -> list[dict]:
        """The SQL of one request, read while this size's connection is the default one."""
        with self.sizes.use(key), self.page_size(url, rows):
            with CaptureQueriesContext(connection) as ctx:
                before()
                self.clients[key, who].get(url)
            return list(ctx.captured_queries)


def slowest(captured: list[dict]) -> str:
    if not captured:
        return ""
    query = max(captured, key=lambda q: float(q["time"]))
    sql = re.sub(r"\s+", " ", query["sql"])
    return f"slowest {float(query['time']) * 1000:.0f} ms: {sql[:110]}"


def describe(response, captured, times) -> dict:
    changelist = response.context and response.context.get("cl")
    entry = {
        "kb": len(response.content) / 1024,
        "queries": len(captured),
        "median": statistics.median(times),
        "times": times,
        "slowest": slowest(captured),
    }
    if changelist is not None:
        entry["rows"] = len(changelist.result_list)
    return entry


def measure_page(pages: AdminPages, who, label, url, before, repeat: int) -> dict:
    """One page as one user at both sizes: {size: entry}."""
    status, captured = {}, {}
    for key in SIZES:
        # Warm-up (templates, caches, connection), then the queries of one request.
        status[key] = pages.get(key, who, url, before)[1].status_code
        if status[key] == 200:
            captured[key] = pages.queries_of(key, who, url, before)
    entries = {k: {"label": label, "user": who, "status": status[k]} for k in SIZES}
    if not all(status[k] == 200 for k in SIZES):
        return entries
    times: dict = {key: [] for key in SIZES}
    last = {}
    for _ in range(repeat):
        for key in SIZES:
            seconds, last[key] = pages.get(key, who, url, before)
            assert last[key].status_code == 200  # noqa: S101 - a sanity check
            times[key].append(seconds)
    for key in SIZES:
        entries[key].update(describe(last[key], captured[key], times[key]))
    small_rows = entries["small"].get("rows")
    if small_rows is not None and entries["large"].get("rows", 0) > small_rows:
        entries["large"]["same_rows"] = measure_same_rows(
            pages, who, url, before, small_rows, repeat
        )
    return entries


def measure_same_rows(pages: AdminPages, who, url, before, rows: int, repeat: int) -> dict:
    """The large page with as many rows as at the small size: what the table's size costs,
    without the rendering of the extra rows."""
    pages.get("large", who, url, before, rows)  # warm-up
    cut_queries = pages.queries_of("large", who, url, before, rows)
    cut = []
    for _ in range(repeat):
        pages.get("small", who, url, before)  # keeps the turns of the two sizes
        seconds, response = pages.get("large", who, url, before, rows)
        cut.append(seconds)
    same = describe(response, cut_queries, cut)
    return {k: same[k] for k in ("rows", "queries", "median", "times")}


def measure_admin(args) -> dict:
    setup_test_environment()
    pages = AdminPages()
    results: dict = {key: {} for key in SIZES}
    for who, _username in USERS:
        for label, url, before in pages.pages:
            entries = measure_page(pages, who, label, url, before, args.repeat)
            for key in SIZES:
                results[key][f"{label}|{who}"] = entries[key]
            log(
                f"{label} as {who}: "
                + ", ".join(
                    f"{key} HTTP {entries[key]['status']} {entries[key].get('queries', '-')} "
                    f"queries {fmt_ms(entries[key].get('median'))}"
                    for key in SIZES
                )
            )
    return {key: {"pages": results[key]} for key in SIZES}
