"""Block-stacking tasks: towers strings, their stages, every task of a size, and the train/held-out split.

A task is a string of towers, bottom block first: ``"ab cd"`` puts b on a and d on c. Blocks are
labelled ``a``, ``b``, ... in the order of the env's block slots. A *stage* is one placement
``(block, base)``; ``"abc"`` has two stages (b on a, then c on b) and the scripted expert does them
in string order, bottom up, so the order a demonstration shows is the order the task lists.
Pure Python/numpy: nothing here needs MuJoCo.
"""

from __future__ import annotations

import itertools

import numpy as np

from leyden_core.errors import LeydenConfigError

LABELS = "abcdefgh"
MAX_BLOCKS = len(LABELS)
BLOCK_HALF = 0.02  # blocks are 4 cm cubes
XY_TOLERANCE, Z_TOLERANCE = 0.015, 0.008  # "in place": centred within 1.5 cm, at the right height within 8 mm

Towers = tuple[tuple[int, ...], ...]


def parse_task(task: str, num_blocks: int) -> Towers:
    """``"ab cd"`` → ((0, 1), (2, 3)); every tower has ≥ 2 blocks, each block appears at most once."""
    towers = tuple(tuple(LABELS.find(c) for c in tower) for tower in task.split())
    flat = [b for tower in towers for b in tower]
    fix = f"write towers of 2+ distinct labels from {LABELS[:num_blocks]!r}, bottom first, e.g. 'ab cd'"
    if not towers or any(len(t) < 2 for t in towers):
        raise LeydenConfigError(f"task {task!r} has no tower of two or more blocks", fix)
    if any(b < 0 or b >= num_blocks for b in flat) or len(set(flat)) != len(flat):
        raise LeydenConfigError(f"task {task!r} is not an arrangement of {num_blocks} distinct blocks", fix)
    return towers


def task_name(towers: Towers) -> str:
    """The canonical string: towers sorted, so each arrangement has exactly one name."""
    return " ".join(sorted("".join(LABELS[b] for b in tower) for tower in towers))


def stages(towers: Towers) -> list[tuple[int, int]]:
    """The placements ``(block, base)`` in the order the expert performs them."""
    return [(tower[i], tower[i - 1]) for tower in towers for i in range(1, len(tower))]


def num_stages(task: str) -> int:
    return sum(len(tower) - 1 for tower in task.split())


def _towers(labels: tuple[int, ...], remaining: int) -> set[Towers]:
    if remaining == 0:
        return {()}
    found = set()
    for length in range(2, remaining + 2):
        for tower in itertools.permutations(labels, length):
            rest = tuple(b for b in labels if b not in tower)
            for others in _towers(rest, remaining - (length - 1)):
                found.add(tuple(sorted((tower, *others))))
    return found


def all_tasks(num_blocks: int, num_stages: int) -> list[str]:
    """Every arrangement of ``num_blocks`` blocks with exactly ``num_stages`` placements, sorted by name."""
    check_num_blocks(num_blocks)
    return sorted(task_name(t) for t in _towers(tuple(range(num_blocks)), num_stages))


def split_tasks(
    num_blocks: int, stage_counts: tuple[int, ...], held_out_fraction: float = 0.25, seed: int = 0
) -> tuple[list[str], list[str]]:
    """(training, held-out) tasks: per number of stages, a seeded fraction of the arrangements is held out.

    Held-out tasks are whole arrangements (which block goes on which) never shown in training; each
    stage count with at least two arrangements keeps at least one on each side.
    """
    train, held_out = [], []
    for k in stage_counts:
        tasks = all_tasks(num_blocks, k)
        order = np.random.default_rng([seed, k]).permutation(len(tasks))
        n_held = int(round(held_out_fraction * len(tasks)))
        n_held = min(max(n_held, 1), len(tasks) - 1) if len(tasks) > 1 else 0
        held_out += [tasks[i] for i in sorted(order[:n_held])]
        train += [tasks[i] for i in sorted(order[n_held:])]
    return train, held_out


def check_num_blocks(num_blocks: int) -> None:
    if not 2 <= num_blocks <= MAX_BLOCKS:
        raise LeydenConfigError(
            f"num_blocks must be in 2..{MAX_BLOCKS}, got {num_blocks}", "pass num_blocks between 2 and 8"
        )


def on_top(positions: np.ndarray, block: int, base: int) -> bool:
    """Whether ``block`` rests centred on ``base`` (positions (N, 3) of the block centres)."""
    offset = positions[block] - positions[base]
    return bool(np.linalg.norm(offset[:2]) < XY_TOLERANCE and abs(offset[2] - 2 * BLOCK_HALF) < Z_TOLERANCE)


def stages_in_place(positions: np.ndarray, towers: Towers) -> np.ndarray:
    """(S,) bool: stage s is in place when its block is on its base and the tower below it stands.

    A tower's bottom block must be on the table; a block counts only if everything under it counts,
    so knocking a tower over undoes its upper stages.
    """
    done = []
    for tower in towers:
        standing = abs(positions[tower[0], 2] - BLOCK_HALF) < Z_TOLERANCE
        for i in range(1, len(tower)):
            standing = standing and on_top(positions, tower[i], tower[i - 1])
            done.append(standing)
    return np.array(done, dtype=bool)
