"""The visual-navigation mazes: perfect random mazes, the rules of a step, two episodes per trial from the
same start, a first-person view that shows the goal, and RL² with a CNN-GRU policy training on them."""

from collections import deque
from functools import partial

import numpy as np
import pytest
import torch

from leyden_core.errors import LeydenConfigError
from leyden_core.testing import quiet_trainer
from leyden_rl.meta.gru import CNNGRUPolicy
from leyden_rl.meta.maze import DIRECTIONS, FORWARD, GOAL_COLOR, LEFT, RIGHT, RandomMazes, carve_mazes
from leyden_rl.meta.rl2 import RL2
from leyden_rl.meta.tasks import BernoulliBandits
from leyden_rl.meta.video import TrialVideo, check_watchable, record_trial


def _reachable(walls: torch.Tensor, size: int) -> int:
    """Cells reachable from cell (0, 0) through open blocks."""
    seen, queue = {(0, 0)}, deque([(0, 0)])
    while queue:
        x, y = queue.popleft()
        for dx, dy in DIRECTIONS.tolist():
            nx, ny = x + dx, y + dy
            if (
                0 <= nx < size
                and 0 <= ny < size
                and not walls[2 * y + 1 + dy, 2 * x + 1 + dx]
                and (nx, ny) not in seen
            ):
                seen.add((nx, ny))
                queue.append((nx, ny))
    return len(seen)


def test_mazes_are_perfect_and_differ():
    size = 6
    walls = carve_mazes(20, size, torch.Generator().manual_seed(0))
    assert walls.shape == (20, 13, 13)
    cells, passages = size * size, size * size - 1  # a spanning tree: one passage fewer than cells
    assert ((~walls).sum((1, 2)) == cells + passages).all()
    assert all(_reachable(w, size) == cells for w in walls)  # and it connects every cell
    assert walls[:, 0].all() and walls[:, -1].all() and walls[:, :, 0].all()  # closed outside
    assert len({w.numpy().tobytes() for w in walls}) == 20


def _corridor() -> RandomMazes:
    return RandomMazes(size=3, num_episodes=2, max_episode_steps=4, resolution=8)


def _place(batch, cell, heading, goal) -> None:
    """A known maze: the top row of cells open, the goal two cells east of the start."""
    batch.walls[:] = True
    batch.walls[:, 1, 1:6] = False
    batch.start[:], batch.cell[:] = torch.tensor(cell), torch.tensor(cell)
    batch.start_heading[:], batch.heading[:] = heading, heading
    batch.goal[:] = torch.tensor(goal)


def test_walls_block_and_cost_turns_do_not_and_the_goal_pays_and_restarts_the_episode():
    family = _corridor()
    batch = family.batch(2, seed=0)
    batch.reset()
    _place(batch, (0, 0), 3, (2, 0))  # facing north, a wall ahead
    _, reward, done = batch.step(torch.tensor([FORWARD, RIGHT]))
    assert batch.cell[0].tolist() == [0, 0]  # the wall held
    torch.testing.assert_close(
        reward, torch.tensor([-0.041, -0.04])
    )  # a bump costs extra; a turn only a step
    assert batch.heading.tolist() == [3, 0] and not done.any()
    batch.step(torch.tensor([RIGHT, FORWARD]))
    _, reward, done = batch.step(torch.tensor([FORWARD, FORWARD]))
    assert (
        batch.cell[1].tolist() == [0, 0] and done[1] and reward[1] == 1.0 - 0.04
    )  # reached: back to the start
    assert not done[0] and batch.episodes.tolist() == [0, 1]
    _, reward, done = batch.step(torch.tensor([LEFT, FORWARD]))
    assert done[0] and batch.episodes[0] == 1  # four steps without the goal end the first episode


def test_after_its_episodes_a_trial_waits_in_the_dark_for_nothing():
    family = _corridor()
    batch = family.batch(1, seed=0)
    batch.reset()
    _place(batch, (1, 0), 0, (2, 0))  # the goal one step ahead
    for _ in range(2):
        obs, reward, done = batch.step(torch.tensor([FORWARD]))
        assert done.all() and reward.item() == pytest.approx(1.0 - 0.04)
    assert (obs == 0).all() and not batch.playing.any()
    obs, reward, done = batch.step(torch.tensor([FORWARD]))
    assert reward.item() == 0 and not done.any() and (obs == 0).all()


def test_the_view_shows_the_goal_ahead_in_green():
    batch = _corridor().batch(1, seed=0)
    batch.reset()
    _place(batch, (1, 0), 0, (2, 0))
    frame = batch.render()[0]  # (3, 8, 8)
    assert frame.shape == (3, 8, 8) and frame.min() >= 0 and frame.max() <= 255
    centre = frame[:, 4, 3:5].T  # the middle columns at the horizon
    assert all(
        torch.allclose(pixel / pixel.max(), GOAL_COLOR.float() / GOAL_COLOR.max(), atol=0.05)
        for pixel in centre
    )
    batch.heading[:] = 2  # turned around: a wall, not the goal
    assert not torch.equal(batch.render()[0, :, 4, 3:5], frame[:, 4, 3:5])


def test_the_task_is_the_goal_seen_from_the_start():
    """The goal ahead and to the right of the start heading: what path integration can know."""
    batch = RandomMazes(size=5).batch(3, seed=0)
    batch.reset()
    batch.start[:] = torch.tensor([[1, 1], [1, 1], [1, 1]])
    batch.start_heading[:] = torch.tensor([0, 3, 1])  # east, north, south
    batch.goal[:] = torch.tensor([[3, 0], [3, 0], [3, 0]])  # two cells east, one north
    goal = batch.task_parameters()["goal"] * 4
    torch.testing.assert_close(goal, torch.tensor([[2.0, -1.0], [1.0, 2.0], [-1.0, -2.0]]))


def test_rl2_trains_a_cnn_gru_policy_on_mazes(tmp_path):
    family = RandomMazes(size=3, max_episode_steps=10, resolution=16)
    policy = partial(CNNGRUPolicy, hidden_size=16, features=8, filters=4)
    model = RL2(family, policy, num_trials=8, num_minibatches=2, total_env_steps=2 * 8 * 20)
    data = model.play_trials()
    assert data["obs"].shape == (20, 8, 3, 16, 16) and data["task.goal"].shape == (1, 8, 2)
    log_prob, _, value = model.evaluate_actions(data)
    torch.testing.assert_close(log_prob, data["log_probs"], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(value, data["values"], atol=1e-5, rtol=1e-5)
    model = RL2(family, policy, num_trials=8, num_minibatches=2, total_env_steps=2 * 8 * 20)
    before = [p.detach().clone() for p in model.policy.parameters()]
    quiet_trainer(max_epochs=1, enable_checkpointing=False, default_root_dir=tmp_path).fit(model)
    assert model.iterations == 2
    assert any(not torch.equal(b, a) for b, a in zip(before, model.policy.parameters()))


def test_a_trial_video_shows_the_agents_view_until_its_episodes_are_over(monkeypatch, tmp_path):
    family = RandomMazes(size=3, max_episode_steps=10, resolution=16)
    policy = partial(CNNGRUPolicy, hidden_size=16, features=8, filters=4)
    model = RL2(family, policy, num_trials=4, num_minibatches=2, total_env_steps=3 * 4 * 20)
    frames = record_trial(model.policy, family, seed=7, scale=2)
    assert frames.dtype == np.uint8 and frames.shape[1:] == (32, 32, 3)
    assert 2 <= len(frames) <= family.trial_length and frames[-1].any()  # no black frames after the trial
    np.testing.assert_array_equal(frames, record_trial(model.policy, family, seed=7, scale=2))  # seeded

    logged = []
    monkeypatch.setattr(
        "leyden_rl.meta.video.log_video", lambda trainer, key, video, fps: logged.append((key, video))
    )
    trainer = quiet_trainer(max_epochs=1, enable_checkpointing=False, default_root_dir=tmp_path,
                            callbacks=[TrialVideo(every_n_env_steps=2 * 4 * 20, scale=1)])  # fmt: skip
    trainer.fit(model)
    assert [key for key, _ in logged] == ["eval/trial"]  # after the second of three iterations
    assert logged[0][1].shape[1:] == (16, 16, 3)


def test_a_trial_video_needs_a_family_that_observes_images():
    with pytest.raises(LeydenConfigError, match="not an image"):
        check_watchable(BernoulliBandits(num_arms=5, num_pulls=10))
