"""How many CPU threads torch uses per process, chosen for the workload unless the user chose.

torch's default (one intra-op thread per core) oversubscribes the machine whenever anything else
runs on it: each small op is split across threads that then wait for each other at a barrier, and
on a busy 2-core machine a CartPole PPO run was measured 70x slower than with one thread (on a
quiet one: 21.1 s with the default, 12.5 s with ``OMP_NUM_THREADS=1``). The rule:

* the user's choice wins: ``OMP_NUM_THREADS`` (or ``MKL_NUM_THREADS``) set in the environment, or
  ``torch.set_num_threads`` called before training;
* otherwise every process on this machine gets its share of the cores that are idle
  (``cores // local processes``, fewer when other work at normal priority keeps some of them busy;
  niced background jobs yield their cores and do not count);
* a model that declares ``preferred_num_threads`` gets at most that many (on-policy RL and DQN: 1,
  their networks are tiny and their time goes into stepping environments; off-policy actor-critics
  train wide networks on big batches every step and use every idle core).

The choice is exported as ``OMP_NUM_THREADS`` so DDP children, DataLoader workers and vector-env
worker processes inherit it instead of each spawning one thread per core.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import torch

USER_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")

_exported: str | None = None  # the OMP_NUM_THREADS this process wrote (not the user's choice)
_torch_default = torch.get_num_threads()  # what torch chose at start-up; anything else was set by someone
_applied: ThreadChoice | None = None


@dataclass(frozen=True)
class ThreadChoice:
    threads: int
    reason: str

    def describe(self) -> str:
        return f"torch threads: {self.threads} per process ({self.reason})"


def available_cores() -> int:
    """Cores this process may run on (the affinity mask, e.g. a container's or SLURM's CPU set)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def _cpu_times(cpus: set[int], stat_text: str | None = None) -> tuple[int, int]:
    """(busy, total) jiffies since boot summed over ``cpus``, from ``/proc/stat``'s per-core lines.

    Time spent in niced processes does not count as busy: a background job at low priority (``nice``)
    gives its core up to a run at normal priority, so that run may use the core.
    """
    if stat_text is None:
        with open("/proc/stat") as stat:
            stat_text = stat.read()
    busy = total = 0
    for line in stat_text.splitlines():
        name, *values = line.split()
        if not (name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus):
            continue
        fields = [int(v) for v in values]  # user nice system idle iowait irq softirq steal ...
        yielding = fields[1] + fields[3] + fields[4]  # niced + idle + iowait
        busy, total = busy + sum(fields) - yielding, total + sum(fields)
    return busy, total


def busy_cores(window_s: float = 0.2) -> float:
    """How many of this process's cores other work keeps busy right now (0 where unknown).

    Sampled over ``window_s`` rather than read from the load average: a run started right after
    another would otherwise see the finished run in the 1-minute average and take too few threads.
    Only the cores this process may use count (other jobs on other cores of a shared node do not
    compete with it), and this process sleeps while sampling, so it does not count itself.
    """
    try:
        cpus = os.sched_getaffinity(0)
        busy0, total0 = _cpu_times(cpus)
        time.sleep(window_s)
        busy1, total1 = _cpu_times(cpus)
    except (AttributeError, OSError, ValueError, IndexError):
        return 0.0
    if total1 <= total0:
        return 0.0
    return len(cpus) * (busy1 - busy0) / (total1 - total0)


def choose_num_threads(
    cores: int, local_processes: int = 1, preferred: int | None = None, busy: float = 0.0
) -> int:
    """Threads per process: this process's share of the idle cores, capped by the model's preference."""
    idle = max(1, min(cores, round(cores - busy)))
    threads = max(1, idle // max(1, local_processes))
    if preferred is not None:
        threads = min(threads, max(1, preferred))
    return threads


def user_choice() -> ThreadChoice | None:
    """The thread count the user set: through the environment, or with ``torch.set_num_threads``."""
    for name in USER_VARIABLES:
        value = os.environ.get(name)
        if value and value != _exported:
            try:
                return ThreadChoice(max(1, int(value)), f"{name}={value}")
            except ValueError:
                continue
    current = torch.get_num_threads()
    if current != _torch_default and (_applied is None or current != _applied.threads):
        return ThreadChoice(current, "set with torch.set_num_threads")
    return None


def applied_choice() -> ThreadChoice | None:
    """The choice :func:`apply_thread_policy` made in this process (None before it ran)."""
    return _applied


def apply_thread_policy(local_processes: int = 1, preferred: int | None = None) -> ThreadChoice:
    """Set torch's intra-op threads for this workload (or keep the user's) and export the choice."""
    global _exported, _applied
    choice = user_choice()
    if choice is None:
        cores, busy = available_cores(), busy_cores()
        threads = choose_num_threads(cores, local_processes, preferred, busy)
        why = [f"{cores} cores", f"{local_processes} process{'es' if local_processes > 1 else ''}"]
        if busy >= 0.5:
            why.append(f"{busy:.1f} busy")
        if preferred is not None and threads == preferred:
            why.append("model prefers " + str(preferred))
        choice = ThreadChoice(threads, ", ".join(why) + "; set OMP_NUM_THREADS to override")
        _exported = str(threads)
        os.environ["OMP_NUM_THREADS"] = _exported
    if torch.get_num_threads() != choice.threads:
        torch.set_num_threads(choice.threads)
    _applied = choice
    return choice
