"""The shared benchmark-results writer produces DESIGN.md's tidy shape and refuses anything else."""

import json
import math

import pytest

from leyden_core.benchmarking import (
    machine_description,
    merge_results,
    read_results,
    result_row,
    write_results,
)


def test_write_results_tidy_shape(tmp_path, monkeypatch):
    monkeypatch.setattr("sys.argv", ["benchmarks/demo.py", "--seeds", "3"])
    rows = [
        result_row("leyden.PPO", "CartPole-v1", 0, "steps_to_475", 21504),
        result_row("sb3.PPO", "CartPole-v1", 0, "steps_to_475", math.inf),
    ]
    out = write_results("demo", rows, results_dir=tmp_path, note="two rows")
    data = json.loads(out.read_text())
    assert out.name == "demo.json"
    assert data["benchmark"] == "demo" and data["note"] == "two rows"
    assert data["command"].endswith("demo.py --seeds 3") and data["command"].startswith("python ")
    assert data["rows"][0]["value"] == 21504.0
    assert data["rows"][1]["value"] is None  # never reached → null, not Infinity (invalid JSON)
    assert "torch" in data["machine"] and "core" in data["machine"]


def test_write_results_rejects_untidy_rows(tmp_path):
    with pytest.raises(ValueError, match="method/setting/seed/metric/value"):
        write_results("bad", [{"method": "x", "score": 1.0}], results_dir=tmp_path)
    twice = [result_row("a", "CartPole-v1", 0, "steps", v) for v in (1.0, 2.0)]
    with pytest.raises(ValueError, match="same method/setting/seed/metric"):
        write_results("bad", twice, results_dir=tmp_path)


def test_a_partial_rerun_keeps_the_other_rows_and_their_commands(tmp_path, monkeypatch):
    assert read_results("demo", tmp_path) == {}
    monkeypatch.setattr("sys.argv", ["benchmarks/demo.py", "--seeds", "2"])
    rows = [result_row(m, "CartPole-v1", seed, "steps", 1.0) for m in ("a", "b") for seed in (0, 1)]
    merge_results("demo", rows, lambda row: True, results_dir=tmp_path)
    monkeypatch.setattr("sys.argv", ["benchmarks/demo.py", "--only", "a1"])
    rerun = [result_row("a", "CartPole-v1", 1, "steps", 2.0)]
    merge_results("demo", rerun, lambda row: row["method"] == "a" and row["seed"] == 1, results_dir=tmp_path)
    data = read_results("demo", tmp_path)
    assert [(r["method"], r["seed"], r["value"]) for r in data["rows"]] == [
        ("a", 0, 1.0), ("b", 0, 1.0), ("b", 1, 1.0), ("a", 1, 2.0)
    ]  # fmt: skip
    assert data["commands"] == ["python benchmarks/demo.py --seeds 2", "python benchmarks/demo.py --only a1"]
    merge_results(
        "demo", rerun, lambda row: True, results_dir=tmp_path
    )  # nothing kept: no old command either
    assert read_results("demo", tmp_path)["commands"] == ["python benchmarks/demo.py --only a1"]


def test_runs_of_disjoint_seeds_side_by_side_keep_each_others_rows(tmp_path, monkeypatch):
    def run(seed: int, value: float) -> None:
        monkeypatch.setattr("sys.argv", ["benchmarks/demo.py", "--first-seed", str(seed)])
        rows = [result_row("a", "CartPole-v1", seed, "steps", value)]
        merge_results("demo", rows, lambda row: row["seed"] == seed, results_dir=tmp_path)

    run(0, 1.0)
    run(1, 2.0)  # another process, started before seed 0 wrote: it still keeps seed 0's row
    run(0, 3.0)  # seed 0 again: its row replaced, its command listed once
    data = json.loads((tmp_path / "demo.json").read_text())
    assert sorted((r["seed"], r["value"]) for r in data["rows"]) == [(0, 3.0), (1, 2.0)]
    assert data["commands"] == [f"python benchmarks/demo.py --first-seed {s}" for s in (0, 1)]


def test_machine_description_names_threads():
    assert "torch thread" in machine_description()


def test_clock_counts_cpu_time_of_busy_work_not_of_sleep():
    import time

    from leyden_core.benchmarking import Clock

    clock = Clock()
    time.sleep(0.2)
    wall, cpu = clock.read()
    assert wall >= 0.2 and cpu < 0.1


def test_rows_and_details_are_kept_from_the_same_reading(tmp_path, monkeypatch):
    """A script that keeps per-row details passes its own reading, so rows and details cannot disagree."""
    monkeypatch.setattr("sys.argv", ["benchmarks/demo.py"])
    merge_results(
        "demo", [result_row("a", "s", 0, "m", 1.0)], lambda row: True, results_dir=tmp_path, seconds=[5.0]
    )
    earlier = read_results("demo", tmp_path)
    merge_results(
        "demo", [result_row("b", "s", 0, "m", 2.0)], lambda row: True, results_dir=tmp_path
    )  # not seen: read just before writing
    merge_results("demo", [result_row("c", "s", 0, "m", 3.0)], lambda row: False, results_dir=tmp_path,
                  earlier=earlier, seconds=[*earlier["seconds"], 7.0])  # fmt: skip
    data = read_results("demo", tmp_path)
    assert [r["method"] for r in data["rows"]] == ["a", "c"] and data["seconds"] == [5.0, 7.0]
