"""EXPLAIN (no ANALYZE) of the SELECTs the nightly run sends to licensing_license or a
partners_* table: the scans of each distinct query, and whether those of large tables all
use an index.

"SEQ SCAN ON LARGE TABLE" marks a sequential scan of a table over --large-table rows,
"PK-ORDER SCAN + FILTER" a walk of the primary key that filters every row (ORDER BY id
LIMIT n), a full scan in disguise.
"""

from __future__ import annotations

import json
import re

from django.db import connection

LITERAL = re.compile(r"'(?:[^']|'')*'|\b\d+(?:\.\d+)?\b")
SELECTIVE_TABLES = ("licensing_license", "partners_")


def normalize(sql: str) -> str:
    sql = LITERAL.sub("?", sql)
    sql = re.sub(r"\(\s*\?(?:\s*,\s*\?)*\s*\)", "(…)", sql)
    return re.sub(r"\s+", " ", sql).strip()


def label_of(sql: str) -> str:
    """A short name for a query: its table, the columns it filters on, its shape."""
    table = re.search(r'\bFROM "(\w+)"', sql)
    where = sql.split(" WHERE ", 1)[1] if " WHERE " in sql else ""
    where = re.split(r" ORDER BY | GROUP BY | LIMIT ", where)[0]
    columns = []
    for found in re.finditer(r'"(\w+)"\."(\w+)"\s*(<=|>=|<|>|=|IN|IS)', where):
        name = f"{found[2]}{found[3].strip().replace('IN', ' IN').replace('IS', ' IS')}"
        if name not in columns:
            columns.append(name)
    shape = [
        word
        for word, needle in (
            ("EXISTS", "EXISTS("),
            ("GROUP BY", " GROUP BY "),
            ("ORDER BY", " ORDER BY "),
            ("LIMIT", " LIMIT "),
            ("FOR UPDATE", " FOR UPDATE"),
        )
        if needle in sql
    ]
    text = f"{table[1] if table else '?'}: {', '.join(columns) or '-'}"
    return f"{text} [{' '.join(shape)}]" if shape else text


def group_selects(queries: list[dict]) -> dict[str, dict]:
    """The SELECTs on licensing_license or partners_* tables, by normalized text: one
    example of each, with their executions and total time in the run."""
    groups: dict[str, dict] = {}
    for query in queries:
        sql = query["sql"]
        if not sql.lstrip().upper().startswith("SELECT"):
            continue
        if not any(f'"{t}' in sql for t in SELECTIVE_TABLES):
            continue
        key = normalize(sql)
        group = groups.setdefault(key, {"sql": sql, "executions": 0, "total": 0.0})
        group["executions"] += 1
        group["total"] += float(query["time"])
    return groups


def explain(queries: list[dict], large_table: int) -> list[dict]:
    """EXPLAIN every distinct SELECT on licensing_license or partners_* tables; sum their
    executions and time in the run."""
    groups = group_selects(queries)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reltuples::bigint FROM pg_class WHERE relkind IN ('r', 'p')"
        )
        rows = dict(cursor.fetchall())
        large = {name for name, n in rows.items() if n > large_table}
        out = []
        for key, group in groups.items():
            cursor.execute(f"EXPLAIN (FORMAT JSON) {group['sql']}")  # noqa: S608 - our own SQL
            plan = cursor.fetchone()[0]
            plan = json.loads(plan) if isinstance(plan, str) else plan
            words, verdict = judge_scans(walk(plan[0]["Plan"]), rows, large)
            out.append(
                {
                    "key": key,
                    "label": label_of(group["sql"]),
                    "executions": group["executions"],
                    "total": group["total"],
                    "scans": "; ".join(words),
                    "index": verdict,
                }
            )
    return sorted(out, key=lambda p: -p["total"])


def judge_scans(scans, rows: dict[str, int], large: set[str]) -> tuple[list[str], str]:
    """A description of each scan, marked where it reads a large table in full, and the
    verdict for the query: "yes" when every scan of a large table uses an index."""
    words, verdict = [], "yes"
    for node, relation, index, cond, filtered in scans:
        text = f"{node} {relation}".rstrip() + (
            f" ({index}: {cond or 'no condition'})" if index else ""
        )
        if node == "Seq Scan" and relation in large:
            text += f" <- SEQ SCAN ON LARGE TABLE ({rows[relation]:,} rows)"
            verdict = "NO: seq scan"
        elif (
            index.endswith("_pkey")
            and filtered
            and relation in large
            and (not cond or re.fullmatch(r"\(id [<>]=? .*\)", cond))
        ):
            # ORDER BY id LIMIT n walks the primary key and filters every row until
            # n match: a full scan in disguise when the matches are few.
            text += " <- PK-ORDER SCAN + FILTER ON LARGE TABLE"
            verdict = "NO: pk walk" if verdict == "yes" else verdict
        words.append(text)
    return words, verdict


def walk(node: dict):
    """(node type, table, index, index condition, has a filter) of every scan in a plan."""
    if "Relation Name" in node or node["Node Type"] == "Bitmap Index Scan":
        cond = node.get("Index Cond") or node.get("Recheck Cond") or ""
        cond = re.sub(r"\((\w+)\)::\w+", r"\1", cond)  # (state)::text -> state
        cond = re.sub(r"::(timestamp with time zone|[\w\[\]]+)", "", cond)  # 'x'::date -> 'x'
        cond = cond.replace("'", "")
        if len(cond) > 90:
            cond = cond[:87] + "..."
        yield (
            node["Node Type"],
            node.get("Relation Name", ""),
            node.get("Index Name", ""),
            cond,
            "Filter" in node,
        )
    for child_node in node.get("Plans", []):
        yield from walk(child_node)
