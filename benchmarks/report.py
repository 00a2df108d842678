"""The table the parent prints from its children's results: one function per section
(admin, nightly, its baselines and ratios, explain, fan-out), each row built by `measured`
where it holds (queries, time) at sizes A and B."""

from __future__ import annotations

import os

from common import fmt_ms

HEADER = ["section", "what", "as", "A queries", "A time", "B queries", "B time", "B/A", "note"]
RIGHT_ALIGNED = {3, 4, 5, 6, 7}


def ratio(b: float | None, a: float | None) -> str:
    if not a or b is None:
        return ""
    return f"{b / a:,.1f}x"


def measured(section: str, what: str, who: str, a: tuple, b: tuple, note: str = "") -> list:
    """A table row of (queries, seconds) at sizes A and B, and their time ratio."""
    return [
        section,
        what,
        who,
        str(a[0]),
        fmt_ms(a[1]),
        str(b[0]),
        fmt_ms(b[1]),
        ratio(b[1], a[1]),
        note,
    ]


def print_report(results: dict, args, sizes: dict) -> None:
    rows = admin_rows(results["admin"])
    nightly = results["nightly"]
    if nightly:
        a, b = nightly["medium"], nightly["large"]
        rows += nightly_rows(a, b, results["day"], args.due)
        rows += baseline_rows(a, b, args.due)
        rows += ratio_rows(a, b)
        rows += explain_rows(a, b)
    fan = results.get("fanout")
    if fan:
        rows.append(fanout_row(fan, args, sizes))
    print_context(results, args, sizes)
    print_table(rows)


def admin_rows(admin: dict) -> list[list[str]]:
    """Each page as each user; below a page measured again with fewer rows at B, that row."""
    if not admin:
        return []
    rows = []
    small, large = admin["small"], admin["large"]
    for key, page in small["pages"].items():
        other = large["pages"].get(key, {})
        a = (page.get("queries", ""), page.get("median"))
        rows.append(
            measured(
                "admin",
                page["label"],
                page["user"],
                a,
                (other.get("queries", ""), other.get("median")),
                admin_note(page, other),
            )
        )
        same = other.get("same_rows")
        if same:
            rows.append(
                measured(
                    "admin",
                    f"  same list, {same['rows']} rows at both sizes",
                    page["user"],
                    a,
                    (same["queries"], same["median"]),
                    "B page cut to A's rows (list_per_page): the cost of the table's size",
                )
            )
    return rows


def admin_note(page: dict, other: dict) -> str:
    note = other.get("slowest", "")
    if "kb" in other:
        note = f"B page {other['kb']:,.0f} KB; {note}"
    if "rows" in other:
        # A page with fewer rows at size A renders less: part of the ratio.
        note = f"rows on the page {page['rows']} / {other['rows']}; {note}"
    if page["status"] != 200 or other.get("status") != 200:
        note = f"HTTP {page['status']} / {other.get('status')}"
    return note


def at_both(a: dict, b: dict, queries: str, seconds: str) -> tuple[tuple, tuple]:
    """The (queries, seconds) of a nightly figure at A and at B, for `measured`."""
    return (a[queries], a[seconds]), (b[queries], b[seconds])


def nightly_rows(a: dict, b: dict, day: str, due: int) -> list[list[str]]:
    """The whole run, then each of its steps."""
    rows = [
        measured(
            "nightly",
            f"run_nightly(today={day}), {due:,} due",
            "system",
            *at_both(a, b, "queries", "median"),
            f"peak memory {a['peak_mb']:.1f} MB / {b['peak_mb']:.1f} MB; "
            f"rows expired {a['changed']:,} / {b['changed']:,}; counts B {b['counts']}",
        )
    ]
    for step in b["steps"]:
        rows.append(
            measured(
                "nightly",
                f"  step: {step}",
                "",
                (a["step_queries"].get(step, ""), a["steps"].get(step)),
                (b["step_queries"].get(step, ""), b["steps"][step]),
            )
        )
    return rows


def baseline_rows(a: dict, b: dict, due: int) -> list[list[str]]:
    written = "UPDATE of the licenses it changed ({:,} / {:,}) to their new values, "
    written += "INSERT…SELECT of their history rows, INSERT of its notifications ({:,} / {:,})"
    return [
        measured(
            "nightly",
            f"narrower baseline SQL: UPDATE + INSERT…SELECT of the {due:,} due only",
            "",
            *at_both(a, b, "baseline_queries", "baseline"),
            "same rows, same history rows",
        ),
        measured(
            "nightly",
            "baseline SQL: the same row changes (every row the run wrote)",
            "",
            *at_both(a, b, "full_baseline_queries", "full_baseline"),
            written.format(
                a["written"]["licenses"],
                b["written"]["licenses"],
                a["written"]["notifications"],
                b["written"]["notifications"],
            ),
        ),
    ]


def ratio_rows(a: dict, b: dict) -> list[list[str]]:
    """The night over its baselines, at A and at B (in the time columns)."""
    expire = "renew or expire", "expire trials"
    a_expire = sum(a["steps"].get(s, 0) for s in expire)
    b_expire = sum(b["steps"].get(s, 0) for s in expire)
    ratios = [
        (
            "nightly / baseline of the same row changes",
            *(a["median"], a["full_baseline"], b["median"], b["full_baseline"]),
            "",
        ),
        (
            "nightly / narrower baseline, the due rows only (whole run)",
            *(a["median"], a["baseline"], b["median"], b["baseline"]),
            "",
        ),
        (
            "nightly / narrower baseline, the due rows only (expiry steps)",
            *(a_expire, a["baseline"], b_expire, b["baseline"]),
            "steps 'renew or expire' + 'expire trials'",
        ),
    ]
    return [
        ["nightly", what, "", "", ratio(a_time, a_base), "", ratio(b_time, b_base), "", note]
        for what, a_time, a_base, b_time, b_base, note in ratios
    ]


def explain_rows(a: dict, b: dict) -> list[list[str]]:
    """Each query planned at B (the most time first), beside the same query at A."""
    plans_a = {p["key"]: p for p in a["explain"]}
    rows = []
    for plan in b["explain"]:
        other = plans_a.get(plan["key"], {})
        rows.append(
            [
                "explain",
                plan["label"],
                f"index: {plan['index']}",
                str(other.get("executions", "")),
                fmt_ms(other.get("total")),
                str(plan["executions"]),
                fmt_ms(plan["total"]),
                "",
                f"B: {plan['scans']}" + (f" | A: {other['scans']}" if other else ""),
            ]
        )
    return rows


def fanout_row(fan: dict, args, sizes: dict) -> list[str]:
    """1 worker process in the A columns, 2 in the B columns."""
    runs = fan["runs"]
    licenses = sizes[args.fanout_db][1]
    return measured(
        "fanout",
        f"nightly in {fan['chunks']} chunk tasks, {licenses:,} licenses, {args.due:,} due",
        "Celery on Redis",
        ("1 process", runs[1]["seconds"]),
        ("2 processes", runs[2]["seconds"]),
        f"dispatch to the end of the global steps; counts {runs[2]['counts']}",
    )


def print_context(results: dict, args, sizes: dict) -> None:
    """What the columns are, how each database was prepared, how busy the machine was."""
    legend = (
        f"A = small ({sizes['small'][1]:,} licenses, {sizes['small'][0]:,} partners) for admin "
        f"rows, medium ({sizes['medium'][1]:,} licenses) for nightly/explain rows; "
        f"B = large ({sizes['large'][1]:,} licenses, {sizes['large'][0]:,} partners). "
        f"Admin times: median of {args.repeat} requests in each of {args.rounds} rounds; "
        f"nightly: median of "
        f"{args.nightly_repeat} runs. Measured day D = {results['day']}."
    )
    print()
    print(legend)
    for key, prep in results["prepare"].items():
        seeded = f"seeded in {prep['seed_seconds']:.1f} s" if prep.get("seed_seconds") else "reused"
        print(f"  {key}: {prep['counts']} ({seeded})")
    parts = [f"admin rounds {results['admin']['small']['load']}"] if results["admin"] else []
    parts += [f"nightly {key} {data['load']}" for key, data in results["nightly"].items()]
    loads = ", ".join(parts)
    print(f"  load average (1 min) during the measurements: {loads} on {os.cpu_count()} CPUs")
    print()


def print_table(rows: list[list[str]]) -> None:
    """Columns padded to their widest cell, the figures right-aligned; the note unpadded."""
    widths = [max(len(str(r[i])) for r in [HEADER, *rows]) for i in range(len(HEADER) - 1)]

    def line(cells):
        out = [
            (str(c).rjust(w) if i in RIGHT_ALIGNED else str(c).ljust(w))
            for i, (c, w) in enumerate(zip(cells[:-1], widths, strict=True))
        ]
        return "  ".join(out) + "  " + cells[-1]

    print(line(HEADER))
    print(line(["-" * w for w in widths] + ["-" * 4]))
    for row in rows:
        print(line(row).rstrip())
