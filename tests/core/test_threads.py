"""The thread policy: the user's setting wins; otherwise each process gets its share of the idle
cores, at most what the model prefers; the choice is exported for child processes."""

from __future__ import annotations

import pytest
import torch

from leyden_core import threads
from leyden_core.threads import apply_thread_policy, choose_num_threads


@pytest.mark.parametrize(
    ("cores", "processes", "preferred", "busy", "expected"),
    [
        (2, 1, None, 0.0, 2),  # a quiet machine: every core
        (2, 1, 1, 0.0, 1),  # an RL method prefers one thread
        (8, 2, None, 0.0, 4),  # DDP: cores // local processes
        (8, 4, None, 0.0, 2),
        (2, 4, None, 0.0, 1),  # more processes than cores: never below one
        (2, 1, None, 1.0, 1),  # another job keeps one core busy
        (16, 2, None, 8.2, 4),  # half the cores busy: share the idle half
        (4, 1, None, 9.0, 1),  # overloaded
    ],
)
def test_choose_num_threads(cores, processes, preferred, busy, expected) -> None:
    assert choose_num_threads(cores, processes, preferred, busy) == expected


@pytest.fixture
def restore_threads(monkeypatch):
    before = torch.get_num_threads()
    monkeypatch.setattr(threads, "_exported", None)
    monkeypatch.setattr(threads, "_applied", None)
    # as at start-up: earlier tests in this process may have applied the policy already
    monkeypatch.setattr(threads, "_torch_default", before)
    yield monkeypatch
    torch.set_num_threads(before)


def test_the_users_environment_wins(restore_threads) -> None:
    restore_threads.setenv("OMP_NUM_THREADS", "3")
    choice = apply_thread_policy(local_processes=1, preferred=1)
    assert choice.threads == 3 and "OMP_NUM_THREADS=3" in choice.describe()
    assert torch.get_num_threads() == 3


def test_the_choice_is_exported_and_rechosen_by_the_same_process(restore_threads) -> None:
    restore_threads.delenv("OMP_NUM_THREADS", raising=False)
    restore_threads.delenv("MKL_NUM_THREADS", raising=False)
    restore_threads.setattr(threads, "available_cores", lambda: 4)
    restore_threads.setattr(threads, "busy_cores", lambda: 0.0)
    first = apply_thread_policy(local_processes=2)
    assert first.threads == 2 and torch.get_num_threads() == 2
    assert threads.os.environ["OMP_NUM_THREADS"] == "2"  # DDP children and workers inherit it
    # a second run in the same process (a notebook, a test) chooses again instead of taking it as the user's
    again = apply_thread_policy(local_processes=1, preferred=1)
    assert again.threads == 1 and "model prefers 1" in again.describe()


def test_busy_cores_is_a_fraction_of_this_process_cores() -> None:
    busy = threads.busy_cores(window_s=0.05)
    assert 0.0 <= busy <= threads.available_cores() + 1e-6


def test_niced_background_work_does_not_count_as_busy() -> None:
    # cpu0: 100 user, 300 nice, 600 idle; cpu1: 500 user, 500 idle; cpu2 is not ours
    stat = "cpu  600 300 0 1100 0 0 0 0\ncpu0 100 300 0 600 0 0 0 0\ncpu1 500 0 0 500 0 0 0 0\ncpu2 9 9 9 9 0 0 0 0\n"
    assert threads._cpu_times({0, 1}, stat) == (600, 2000)
