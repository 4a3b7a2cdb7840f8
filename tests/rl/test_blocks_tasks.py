"""Block-stacking tasks: parsing, stages, enumeration, the train/held-out split and the in-place test."""

import numpy as np
import pytest

from leyden_core.errors import LeydenConfigError
from leyden_rl.imitation.blocks.tasks import (
    BLOCK_HALF,
    all_tasks,
    num_stages,
    parse_task,
    split_tasks,
    stages,
    stages_in_place,
    task_name,
)


def test_parse_and_stages_bottom_up_in_string_order():
    towers = parse_task("cab de", 5)
    assert towers == ((2, 0, 1), (3, 4))
    assert stages(towers) == [(0, 2), (1, 0), (4, 3)]
    assert num_stages("cab de") == 3 and task_name(towers) == "cab de"
    assert task_name(parse_task("de cab", 5)) == "cab de"


@pytest.mark.parametrize("bad", ["", "a", "aa", "ab a", "ae", "ab c"])
def test_bad_tasks_are_config_errors(bad):
    with pytest.raises(LeydenConfigError):
        parse_task(bad, 4)


def test_all_tasks_counts_for_four_blocks():
    # 1 stage: ordered pairs 4·3; 2 stages: 4·3·2 towers of three + 4·3·2·1/2 pairs of towers; 3 stages: 4! towers
    assert [len(all_tasks(4, k)) for k in (1, 2, 3)] == [12, 36, 24]
    assert all(num_stages(t) == 2 for t in all_tasks(4, 2))
    assert len(set(all_tasks(4, 2))) == 36


def test_split_has_no_overlap_and_covers_every_task():
    train, held_out = split_tasks(4, (1, 2, 3), 0.25, seed=0)
    assert not set(train) & set(held_out)
    assert sorted(train + held_out) == sorted(t for k in (1, 2, 3) for t in all_tasks(4, k))
    for k in (1, 2, 3):  # every size is on both sides
        assert any(num_stages(t) == k for t in train) and any(num_stages(t) == k for t in held_out)
    assert split_tasks(4, (1, 2, 3), 0.25, seed=0) == (train, held_out)
    assert split_tasks(4, (1, 2, 3), 0.25, seed=1) != (train, held_out)


def test_stages_in_place_needs_the_tower_below():
    towers = parse_task("abc", 3)
    h = BLOCK_HALF
    stacked = np.array([[0.0, 0.0, h], [0.003, 0.0, 3 * h], [0.0, 0.004, 5 * h]])
    assert stages_in_place(stacked, towers).tolist() == [True, True]
    lifted = stacked + np.array([0.0, 0.0, 0.05])  # the whole tower in the air: nothing counts
    assert stages_in_place(lifted, towers).tolist() == [False, False]
    shifted = stacked.copy()
    shifted[1, 0] += 0.03  # b off a: c on b no longer counts either
    assert stages_in_place(shifted, towers).tolist() == [False, False]
