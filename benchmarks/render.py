"""Render every benchmark table in the docs from ``benchmarks/results/*.json``.

    python benchmarks/render.py            # rewrite the tables in place
    python benchmarks/render.py --check    # exit 1 (and name the files) if a rendered table is stale

The numbers live in one place, the results JSON each benchmark script writes (the tidy shape of
docs/design.md); what is claimed about them — targets, which rows a table shows — lives in
``benchmarks/targets.yaml``. This script writes the tables between marker comments in README.md,
BENCHMARKS.md, ``benchmarks/*.md`` and ``docs/**/*.md``, so those files cannot disagree:

    <!-- benchmarks:headline -->           every claim: value, seeds, target, met/missed, command
    <!-- benchmarks:headline:rl -->        the claims of one plugin
    <!-- benchmarks:headline:rl:ppo,dqn --> ... whose ids start with one of these prefixes
    <!-- benchmarks:table:<id> -->         a detail table of targets.yaml's ``tables``
    <!-- benchmarks:plugins -->            README's plugin table with its status column
    ... generated ...
    <!-- /benchmarks -->

Text outside the markers is written by hand. Only the standard library and PyYAML are needed.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import statistics
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
TARGETS = ROOT / "benchmarks" / "targets.yaml"
MARKER = re.compile(
    r"(<!-- benchmarks:(?P<name>[\w:.,-]+) -->\n)(?P<body>.*?)(<!-- /benchmarks -->)", re.DOTALL
)
ROW_KEYS = {"method", "setting", "seed", "metric", "value"}
OPS = {">=": float.__ge__, "<=": float.__le__, ">": float.__gt__, "<": float.__lt__}
OP_TEXT = {">=": "≥", "<=": "≤", ">": ">", "<": "<"}
SUMMARIES = {"mean": statistics.fmean, "median": statistics.median, "max": max, "min": min}


def rendered_files(root: Path = ROOT) -> list[Path]:
    """Every file that may hold marker blocks."""
    files = [root / "README.md", root / "BENCHMARKS.md", *sorted((root / "benchmarks").glob("*.md"))]
    files += sorted((root / "docs").rglob("*.md"))
    return [f for f in files if f.is_file()]


def load_results(results: Path = RESULTS) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(results.glob("*.json"))}


def load_targets(path: Path = TARGETS) -> dict:
    return yaml.safe_load(path.read_text())


# ----------------------------------------------------------------------------------------------- rows


def _matches(row: dict, where: dict) -> bool:
    for key, wanted in where.items():
        allowed = wanted if isinstance(wanted, list) else [wanted]
        if row.get(key) not in allowed:
            return False
    return True


def select(result: dict, where: dict) -> list[dict]:
    return [row for row in result["rows"] if _matches(row, where)]


def per_seed(rows: Iterable[dict], scale: float = 1.0) -> dict[Any, float | None]:
    """Value per seed (the mean when several rows share a seed, e.g. the cells of a grid); None if any is null."""
    grouped: dict[Any, list[float | None]] = {}
    for row in rows:
        grouped.setdefault(row["seed"], []).append(row["value"])
    return {
        seed: None if any(v is None for v in values) else scale * statistics.fmean(values)
        for seed, values in grouped.items()
    }


def commands_of(result: dict, rows: Iterable[dict], chosen: str | list[str] | None = None) -> list[str]:
    """The commands that measured these rows (a row's own ``command``, else the file's).

    ``chosen`` (a claim's or table's ``command``, or a list of them) picks commands the file records,
    for a file built up by several runs (its ``commands``) whose last ``command`` covers only part of it.
    """
    recorded = [
        result["command"],
        *result.get("commands", []),
        *(r["command"] for r in rows if "command" in r),
    ]
    if chosen is not None:
        picked = [chosen] if isinstance(chosen, str) else list(chosen)
        for command in picked:
            if command not in recorded:
                raise ValueError(f"{result['benchmark']}: {command!r} is not a command recorded in its JSON")
        return picked
    seen: list[str] = []
    for row in rows:
        command = row.get("command", result["command"])
        if command not in seen:
            seen.append(command)
    return seen


def fmt(value: float | None, spec: str = ",.4g") -> str:
    if value is None:
        return "—"
    return format(value, spec).replace("-", "−")


# --------------------------------------------------------------------------------------------- claims


def _difference(result: dict, claim: dict) -> dict[Any, float | None]:
    """Seed-paired ``measure`` minus ``minus`` (same rows but for the method, or for the fields of a dict)."""
    where = claim["measure"]
    scale = claim.get("scale", 1.0)
    ours = per_seed(select(result, where), scale)
    other = claim["minus"] if isinstance(claim["minus"], dict) else {"method": claim["minus"]}
    theirs = per_seed(select(result, {**where, **other}), scale)
    return {
        seed: None if value is None or theirs.get(seed) is None else value - theirs[seed]
        for seed, value in ours.items()
        if seed in theirs
    }


def _within_reference(result: dict, claim: dict) -> tuple[int, int]:
    """How many of our cells lie within ``tolerance`` (relative) of the reference method's cell."""
    old, new = claim["reference"]
    rows = [
        r
        for r in select(result, claim["measure"])
        if r["method"].startswith(old) and r["method"] not in claim.get("exclude", [])
    ]
    refs = {
        (r["method"], r["setting"]): r["value"] for r in result["rows"] if r["metric"] == rows[0]["metric"]
    }
    hits = total = 0
    for row in rows:
        ref = refs.get((row["method"].replace(old, new, 1), row["setting"]))
        if ref is None or row["value"] is None:
            continue
        total += 1
        hits += abs(row["value"] / ref - 1) <= claim["tolerance"]
    return hits, total


def evaluate(claim: dict, results: dict[str, dict]) -> dict:
    """The numbers of one headline row: value text, seeds, target text, status, commands."""
    result = results[claim["benchmark"]]
    aggregate = claim.get("aggregate", "mean")
    spec = claim.get("format", ",.4g")
    rows = select(result, claim["measure"])
    if not rows:
        raise ValueError(f"claim {claim['id']!r}: no rows of {claim['benchmark']} match {claim['measure']}")
    target = claim.get("target")
    out = {"claim": claim, "commands": commands_of(result, rows, claim.get("command"))}

    if aggregate == "within_reference":
        hits, total = _within_reference(result, claim)
        out.update(value=f"{hits} of {total} cells", seeds="—", measured=float(hits))
        out["threshold"] = float(total)
        out["target_text"] = target.get("text", f"{target['op']} {fmt(total, spec)}")
        out["met"] = hits >= total if target["op"] == "all" else OPS[target["op"]](float(hits), float(total))
        return out

    if aggregate in ("max", "min"):  # the worst (or best) single row, e.g. a slowdown over several workloads
        scale = claim.get("scale", 1.0)
        values = {i: None if r["value"] is None else scale * r["value"] for i, r in enumerate(rows)}
    elif "minus" in claim:
        values = _difference(result, claim)
    else:
        values = per_seed(rows, claim.get("scale", 1.0))
    seeds = (
        sorted({r["seed"] for r in rows if r["seed"] is not None}) if aggregate in ("max", "min") else values
    )
    seeds = [s for s in seeds if s is not None]
    reached = [v for v in values.values() if v is not None]
    out["seeds"] = str(len(seeds)) if seeds else "—"
    if aggregate == "count":
        measured: float | None = float(len(reached))
        out["value"] = f"{len(reached)} of {len(values)}"
    else:
        measured = SUMMARIES[aggregate](reached) if reached else None
        out["value"] = fmt(measured, spec) + (
            "" if len(reached) == len(values) else f" ({len(reached)} of {len(values)})"
        )
    complete = aggregate == "count" or len(reached) == len(values)  # a seed that never got there misses
    if "over" in claim:  # Leyden's median ÷ another method's (a peer library's), both over every seed
        # a seed that never reached the bar counts as beyond the budget, for both: a median still exists
        # when fewer than half the seeds missed, and a miss costs its side as much as it can
        other = per_seed(select(result, {**claim["measure"], "method": claim["over"]}))
        ours, theirs = ([math.inf if v is None else v for v in d.values()] for d in (values, other))
        ratio = statistics.median(ours) / statistics.median(theirs) if ours and theirs else math.nan
        measured, complete = (ratio, True) if math.isfinite(ratio) else (None, False)
        missed = sum(v is None for v in values.values()) + sum(v is None for v in other.values())
        out["value"] = fmt(measured, spec) + (
            f" ({len(reached)} of {len(values)} reached; {claim['over']}: "
            f"{sum(v is not None for v in other.values())} of {len(other)})"
            if missed
            else ""
        )
    if "peer" in claim:
        peer_rows = select(result, {**claim["measure"], "method": claim["peer"]})
        peer = per_seed(peer_rows, claim.get("scale", 1.0))
        peer_reached = [v for v in peer.values() if v is not None]
        if aggregate == "count":
            peer_text = f"{len(peer_reached)} of {len(peer)}"
        else:
            peer_text = fmt(SUMMARIES[aggregate](peer_reached) if peer_reached else None, spec)
        out["value"] += f" ({claim['peer']}: {peer_text})"
    out["measured"] = measured
    if target is None:
        out.update(target_text="—", met=None)
        return out
    threshold = target.get("value")
    if "reference" in target:  # e.g. the paper's number, less our standard error
        ref = per_seed(select(result, {**claim["measure"], **target["reference"]}))
        threshold = next(iter(ref.values()))
        if "slack_metric" in target:
            slack = per_seed(select(result, {**claim["measure"], "metric": target["slack_metric"]}))
            threshold -= next(iter(slack.values()))
    out["threshold"] = threshold
    out["target_text"] = target.get("text", f"{OP_TEXT[target['op']]} {fmt(threshold, spec.lstrip('+'))}")
    out["met"] = measured is not None and complete and OPS[target["op"]](float(measured), float(threshold))
    return out


def status_text(row: dict) -> str:
    return "—" if row["met"] is None else "met" if row["met"] else "**missed**"


def headline(claims: list[dict], results: dict[str, dict]) -> str:
    lines = ["| claim | value | seeds | target | status | command |", "|---|---|---|---|---|---|"]
    notes = []
    for claim in claims:
        row = evaluate(claim, results)
        command = " ; ".join(f"`{c}`" for c in row["commands"][:1])
        more = len(row["commands"]) - 1
        if more:
            command += f" (+{more} more, see the JSON)"
        lines.append(
            f"| {claim['claim']} | {row['value']} | {row['seeds']} | {row['target_text']} | "
            f"{status_text(row)} | {command} |"
        )
        if claim.get("why"):
            notes.append(f"- **{claim.get('short', claim['id'])}**: {claim['why'].strip()}")
    text = "\n".join(lines) + "\n"
    if notes:
        text += "\n" + "\n".join(notes) + "\n"
    return text


def plugins_table(spec: dict, results: dict[str, dict]) -> str:
    lines = ["| plugin | install | provides | status |", "|---|---|---|---|"]
    for plugin in spec["plugins"]:
        claims = [c for c in spec["claims"] if c["plugin"] == plugin["name"]]
        rows = [evaluate(c, results) for c in claims]
        scored = [r for r in rows if r["met"] is not None]
        if not scored:
            status = plugin.get("status", "—")
        else:
            status = f"{sum(r['met'] for r in scored)} of {len(scored)} benchmark targets met"
            missed = [r["claim"].get("short", r["claim"]["claim"]) for r in scored if not r["met"]]
            if missed:
                status += "; missed: " + ", ".join(missed)
        if plugin.get("note"):
            status += f"; {plugin['note']}"
        lines.append(f"| {plugin['name']} | `{plugin['install']}` | {plugin['provides']} | {status} |")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------- tables


def cell(values: dict[Any, float | None], spec: str) -> str:
    if not values:
        return ""
    reached = [v for v in values.values() if v is not None]
    if not reached:
        return "not reached"
    text = fmt(statistics.fmean(reached), spec)
    if len(reached) > 1:
        text += " ± " + fmt(statistics.pstdev(reached), spec.lstrip("+"))
    if len(reached) < len(values):
        text += f" ({len(reached)} of {len(values)})"
    return text


def _ordered(rows: list[dict], key: str, wanted: list | None) -> list:
    if wanted is not None:
        return wanted
    seen: list = []
    for row in rows:
        if row[key] not in seen:
            seen.append(row[key])
    return seen


def detail_table(table: dict, results: dict[str, dict]) -> str:
    result = results[table["benchmark"]]
    rows = select(result, table.get("where", {}))
    if not rows:
        raise ValueError(f"table {table['id']!r}: no rows of {table['benchmark']} match {table.get('where')}")
    row_key, col_key = table["rows"], table["columns"]
    row_values = _ordered(rows, row_key, table.get("row_values"))
    col_values = _ordered(rows, col_key, table.get("column_values"))
    labels = table.get("labels", {})
    spec, scale = table.get("format", ",.4g"), table.get("scale", 1.0)
    reference = table.get("reference")  # [ours prefix, reference prefix]: "ours (reference)"
    header = [table.get("corner", row_key)] + [str(labels.get(c, c)) for c in col_values]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for rv in row_values:
        cells = [str(labels.get(rv, rv))]
        for cv in col_values:
            hits = [r for r in rows if r[row_key] == rv and r[col_key] == cv]
            text = cell(per_seed(hits, scale), spec)
            if reference and hits:
                ref_where = {row_key: rv, col_key: cv}
                ref_where["method"] = hits[0]["method"].replace(reference[0], reference[1], 1)
                ref = per_seed(select(result, {**table.get("where", {}), **ref_where}), scale)
                if ref:
                    text += f" ({fmt(next(iter(ref.values())), spec)})"
            cells.append(text)
        lines.append("| " + " | ".join(cells) + " |")
    commands = (  # a table of a file built by several runs shows every run's command
        commands_of(result, rows, table.get("command"))
        if "command" in table or "commands" not in result
        else list(dict.fromkeys(result["commands"]))
    )
    source = "; ".join(f"`{c}`" for c in commands)
    caption = table.get("caption", "").strip()
    where = (
        f"`benchmarks/results/{table['benchmark']}.json`, measured with {source} on a {result['machine']}."
    )
    lines += ["", f"{caption} Source: {where}".strip()]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------ rendering


def block(name: str, spec: dict, results: dict[str, dict]) -> str:
    kind, _, arg = name.partition(":")
    if kind == "headline":
        plugin, _, prefixes = arg.partition(":")
        claims = [
            c
            for c in spec["claims"]
            if (not plugin or c["plugin"] == plugin)
            and (not prefixes or c["id"].startswith(tuple(prefixes.split(","))))
        ]
        if not claims:
            raise ValueError(f"no claims match benchmarks:{name}")
        return headline(claims, results)
    if kind == "plugins":
        return plugins_table(spec, results)
    if kind == "table":
        tables = {t["id"]: t for t in spec["tables"]}
        if arg not in tables:
            raise ValueError(f"unknown table {arg!r}; known: {', '.join(tables)}")
        return detail_table(tables[arg], results)
    raise ValueError(f"unknown marker benchmarks:{name}")


def render_text(text: str, spec: dict, results: dict[str, dict]) -> str:
    return MARKER.sub(lambda m: m.group(1) + block(m.group("name"), spec, results) + m.group(4), text)


def stale_files(root: Path = ROOT) -> list[Path]:
    """Files whose marker blocks differ from what the results render to."""
    spec, results = (
        load_targets(root / "benchmarks" / "targets.yaml"),
        load_results(root / "benchmarks" / "results"),
    )
    return [f for f in rendered_files(root) if render_text(f.read_text(), spec, results) != f.read_text()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if a rendered table is stale; write nothing"
    )
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files()
        for path in stale:
            print(f"stale: {path.relative_to(ROOT)} (run: python benchmarks/render.py)")
        return 1 if stale else 0
    spec, results = load_targets(), load_results()
    for path in rendered_files():
        text = path.read_text()
        new = render_text(text, spec, results)
        if new != text:
            path.write_text(new)
            print(f"rendered {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
