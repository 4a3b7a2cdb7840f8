"""The benchmark tables in the docs are rendered from ``benchmarks/results/*.json`` and are current.

Imports only the standard library, PyYAML and ``benchmarks/render.py`` (by path), so it runs in
every plugin's venv.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"


def _load_renderer():
    spec = importlib.util.spec_from_file_location(
        "leyden_benchmarks_render", ROOT / "benchmarks" / "render.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


render = _load_renderer()


@pytest.mark.parametrize("path", sorted(RESULTS.glob("*.json")), ids=lambda p: p.name)
def test_results_have_the_tidy_shape(path: Path) -> None:
    result = json.loads(path.read_text())
    for key in ("benchmark", "command", "machine", "date", "rows"):
        assert key in result, f"{path.name} lacks {key!r}"
    assert isinstance(result["command"], str) and result["command"]
    assert result["rows"], f"{path.name} has no rows"
    keys = set()
    for row in result["rows"]:
        assert render.ROW_KEYS <= set(row) <= render.ROW_KEYS | {"command"}, row
        assert isinstance(row["method"], str) and isinstance(row["metric"], str), row
        assert row["seed"] is None or isinstance(row["seed"], int), row
        assert row["value"] is None or isinstance(row["value"], (int, float)), row
        key = (row["method"], row["setting"], row["seed"], row["metric"])
        assert key not in keys, f"{path.name}: two rows for {key}"
        keys.add(key)


def test_every_rendered_benchmark_is_one_file_named_after_it() -> None:
    spec = render.load_targets()
    names = {c["benchmark"] for c in spec["claims"]} | {t["benchmark"] for t in spec["tables"]}
    for name in names:
        path = RESULTS / f"{name}.json"
        assert path.is_file(), f"targets.yaml names {name}, but {path} does not exist"
        assert json.loads(path.read_text())["benchmark"] == name


def test_every_claim_and_table_renders() -> None:
    spec, results = render.load_targets(), render.load_results()
    for claim in spec["claims"]:
        row = render.evaluate(claim, results)
        assert row["met"] in (True, False, None), claim["id"]
        assert "\n" not in row["value"] and row["commands"], claim["id"]
    for table in spec["tables"]:
        assert render.detail_table(table, results).count("\n| ") >= 2, table["id"]


def test_a_claim_is_met_or_missed_by_the_numbers() -> None:
    result = {
        "benchmark": "toy",
        "command": "python benchmarks/toy.py",
        "rows": [
            {"method": "a", "setting": "s", "seed": seed, "metric": "acc", "value": value}
            for seed, value in enumerate([0.90, 0.80, None])
        ],
    }
    claim = {"id": "toy", "benchmark": "toy", "claim": "toy", "measure": {"method": "a", "metric": "acc"}}
    count = render.evaluate(
        {**claim, "aggregate": "count", "target": {"op": ">=", "value": 2}}, {"toy": result}
    )
    assert (count["value"], count["met"]) == ("2 of 3", True)
    mean = render.evaluate({**claim, "target": {"op": ">=", "value": 0.5}}, {"toy": result})
    assert mean["value"] == "0.85 (2 of 3)" and mean["met"] is False  # a seed that never got there misses


def test_rendered_tables_are_current() -> None:
    stale = render.stale_files()
    assert not stale, (
        f"stale benchmark tables in {[str(p.relative_to(ROOT)) for p in stale]}; run python benchmarks/render.py"
    )


def test_every_page_with_tables_has_markers_that_close() -> None:
    for path in render.rendered_files():
        text = path.read_text()
        assert text.count("<!-- benchmarks:") == text.count("<!-- /benchmarks -->"), path


def test_max_takes_the_worst_row() -> None:
    result = {
        "benchmark": "toy",
        "command": "python benchmarks/toy.py",
        "rows": [
            {"method": "default", "setting": workload, "seed": None, "metric": "slowdown", "value": value}
            for workload, value in (("ppo", 1.05), ("demo", 1.2))
        ],
    }
    claim = {"id": "toy", "benchmark": "toy", "claim": "toy", "measure": {"method": "default"}}
    row = render.evaluate(
        {**claim, "aggregate": "max", "target": {"op": "<=", "value": 1.15}}, {"toy": result}
    )
    assert (row["value"], row["met"]) == ("1.2", False)
