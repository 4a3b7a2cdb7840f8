"""Visual navigation in random mazes (Duan et al., 2016, §5.3): RL² from a first-person view.

Every trial draws a new maze and goal, fixed for the trial's ``num_episodes`` episodes; each episode starts
at the trial's start cell and heading, and ends at the goal or after ``max_episode_steps``. A good agent
explores in the first episode and walks straight to the goal in the second. The agent sees a low-resolution
RGB frame rendered by a ray caster, acts forward / turn left / turn right, and earns ``goal_reward`` at the
goal, minus ``step_penalty`` every step and ``wall_penalty`` for walking into a wall. Once a trial's episodes
are over it waits, seeing black and earning nothing, until the batch's last step.

Everything is batched tensors on the device: maze generation (random walks that carve a spanning tree,
Aldous–Broder, all mazes at once), stepping and rendering.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from leyden_core.errors import LeydenConfigError
from leyden_rl.meta.task_distribution import BatchedTasks, TaskDistribution, stream_generator

# Headings, clockwise in image coordinates (x right, y down): east, south, west, north.
DIRECTIONS = torch.tensor([[1, 0], [0, 1], [-1, 0], [0, -1]])
FORWARD, LEFT, RIGHT = 0, 1, 2
WALL_COLORS = torch.tensor([[200, 60, 60], [60, 60, 200]])  # walls facing east-west / north-south
GOAL_COLOR, SKY, FLOOR = (
    torch.tensor([40, 220, 40]),
    torch.tensor([30, 30, 30]),
    torch.tensor([110, 110, 110]),
)


@dataclass(frozen=True)
class RandomMazes(TaskDistribution):
    """Random ``size × size`` mazes with a goal, seen from the inside.

    Args:
        size: cells per side (the paper's small mazes: 5; large: 9).
        num_episodes: episodes per trial (the paper: 2).
        max_episode_steps: an episode that has not reached the goal ends after this many steps.
        resolution: the square frame's side in pixels.
        field_of_view: horizontal field of view in degrees.
        goal_reward, step_penalty, wall_penalty: the rewards (the paper: 1, 0.04, 0.001).
    """

    size: int = 5
    num_episodes: int = 2
    max_episode_steps: int = 100
    resolution: int = 16
    field_of_view: float = 90.0
    goal_reward: float = 1.0
    step_penalty: float = 0.04
    wall_penalty: float = 0.001

    def __post_init__(self) -> None:
        if self.size < 2 or self.num_episodes < 1 or self.max_episode_steps < 1 or self.resolution < 8:
            raise LeydenConfigError(
                f"RandomMazes(size={self.size}, num_episodes={self.num_episodes}, max_episode_steps="
                f"{self.max_episode_steps}, resolution={self.resolution}) cannot be played",
                "use size >= 2, num_episodes >= 1, max_episode_steps >= 1 and resolution >= 8",
            )

    @property
    def obs_shape(self) -> tuple[int, ...]:
        return (3, self.resolution, self.resolution)

    @property
    def num_actions(self) -> int:
        return 3

    @property
    def trial_length(self) -> int:
        return self.num_episodes * self.max_episode_steps

    @property
    def task_sizes(self) -> dict[str, int]:
        return {"goal": 2}

    def batch(self, num_trials: int, seed: int, device: torch.device | str = "cpu") -> MazeTrials:
        return MazeTrials(self, num_trials, seed, device)

    def with_episodes(self, num_episodes: int) -> RandomMazes:
        return RandomMazes(**{**self.__dict__, "num_episodes": num_episodes})


def carve_mazes(num: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """``num`` random perfect mazes as (num, 2·size + 1, 2·size + 1) bool grids, True a wall block.

    Cell (x, y) is block (2x + 1, 2y + 1). Aldous–Broder: a random walk per maze carves the wall to every
    cell it enters for the first time, which draws a uniform spanning tree; all walks step together.
    """
    device = generator.device
    side = 2 * size + 1
    walls = torch.ones(num, side, side, dtype=torch.bool, device=device)
    rows = torch.arange(num, device=device)
    pos = torch.randint(size, (num, 2), generator=generator, device=device)
    visited = torch.zeros(num, size, size, dtype=torch.bool, device=device)
    visited[rows, pos[:, 1], pos[:, 0]] = True
    walls[rows, 2 * pos[:, 1] + 1, 2 * pos[:, 0] + 1] = False
    directions = DIRECTIONS.to(device)
    while not visited.all():
        step = directions[torch.randint(4, (num,), generator=generator, device=device)]
        new = pos + step
        inside = ((new >= 0) & (new < size)).all(-1)
        new = torch.where(inside[:, None], new, pos)
        fresh = inside & ~visited[rows, new[:, 1], new[:, 0]]
        wall = 2 * pos + 1 + step  # the block between the two cells
        walls[rows[fresh], wall[fresh, 1], wall[fresh, 0]] = False
        walls[rows[fresh], 2 * new[fresh, 1] + 1, 2 * new[fresh, 0] + 1] = False
        visited[rows[fresh], new[fresh, 1], new[fresh, 0]] = True
        pos = new
    return walls


class MazeTrials(BatchedTasks):
    """``num_envs`` maze trials in lock step (see :mod:`leyden_rl.meta.maze`)."""

    def __init__(
        self, family: RandomMazes, num_envs: int, seed: int, device: torch.device | str = "cpu"
    ) -> None:
        self.family, self.num_envs, self.device = family, num_envs, torch.device(device)
        self.trial_length = family.trial_length
        seed = int(torch.randint(2**62, (1,), generator=stream_generator(seed, "env")))
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self.rows = torch.arange(num_envs, device=self.device)
        self.directions = DIRECTIONS.to(self.device)

    def reset(self) -> torch.Tensor:
        n, size, g = self.num_envs, self.family.size, self.generator
        self.walls = carve_mazes(n, size, g)
        self.goal = torch.randint(size, (n, 2), generator=g, device=self.device)
        offset = torch.randint(1, size * size, (n,), generator=g, device=self.device)  # any other cell
        start = (self.goal[:, 1] * size + self.goal[:, 0] + offset) % (size * size)
        self.start = torch.stack([start % size, start // size], -1)
        self.start_heading = torch.randint(4, (n,), generator=g, device=self.device)
        self.episodes = torch.zeros(n, dtype=torch.long, device=self.device)
        self.t = 0
        self.cell, self.heading = self.start.clone(), self.start_heading.clone()
        self.episode_steps = torch.zeros(n, dtype=torch.long, device=self.device)
        return self.render()

    def _new_episode(self, where: torch.Tensor) -> None:
        """Back to the trial's start cell and heading where an episode just ended."""
        self.cell = torch.where(where[:, None], self.start, self.cell)
        self.heading = torch.where(where, self.start_heading, self.heading)
        self.episode_steps = torch.where(where, 0, self.episode_steps)

    @property
    def playing(self) -> torch.Tensor:
        """(N,) bool: trials whose episodes are not all over."""
        return self.episodes < self.family.num_episodes

    def step(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self.t >= self.trial_length:
            raise RuntimeError("the trial is over: call reset() before stepping again")
        family, playing, actions = self.family, self.playing, actions.to(self.device)
        turn = (actions == RIGHT).long() - (actions == LEFT).long()
        self.heading = torch.where(playing, (self.heading + turn) % 4, self.heading)
        step = self.directions[self.heading]
        wall = 2 * self.cell + 1 + step
        blocked = self.walls[self.rows, wall[:, 1], wall[:, 0]]
        forward = playing & (actions == FORWARD)
        self.cell = torch.where((forward & ~blocked)[:, None], self.cell + step, self.cell)
        self.reached = playing & (self.cell == self.goal).all(-1)
        reward = (
            family.goal_reward * self.reached.float()
            - family.step_penalty
            - family.wall_penalty * (forward & blocked).float()
        ) * playing.float()
        self.episode_steps += playing.long()
        done = playing & (self.reached | (self.episode_steps >= family.max_episode_steps))
        self.episodes += done.long()
        self._new_episode(done)
        self.t += 1
        return self.render(), reward, done

    def task_parameters(self) -> dict[str, torch.Tensor]:
        """``goal``: where the goal lies from the start, in cells ahead and to the right of the start heading.

        The agent never learns its absolute position (the start is random, the maze has no landmarks),
        but it can integrate its own moves from the start; once it has seen the goal, this is what its
        memory can hold, and what the second episode needs to walk straight there.
        """
        offset = self.goal - self.start
        ahead = (offset * self.directions[self.start_heading]).sum(-1)
        right = (offset * self.directions[(self.start_heading + 1) % 4]).sum(-1)
        return {"goal": torch.stack([ahead, right], -1).float() / (self.family.size - 1)}

    @torch.no_grad()
    def render(self) -> torch.Tensor:
        """First-person frames (N, 3, R, R), uint8 values as float; black once a trial's episodes are over.

        One ray per pixel column, marched in small steps through the block grid to the first wall or the
        goal (drawn as a green pillar in its cell); the column's wall is as tall as the distance allows.
        """
        family, res = self.family, self.family.resolution
        device = self.device
        eye = (2 * self.cell + 1).float() + 0.5  # (N, 2), the centre of the agent's cell block
        facing = self.heading.float() * (math.pi / 2)
        half = math.radians(family.field_of_view) / 2
        offsets = torch.linspace(-half, half, res, device=device)
        angles = facing[:, None] + offsets  # (N, W)
        side = 2 * family.size + 1
        distances = torch.arange(1, int(side * 1.5 / 0.1), device=device) * 0.1  # (K,)
        rays = torch.stack([angles.cos(), angles.sin()], -1)  # (N, W, 2)
        points = eye[:, None, None] + distances[None, None, :, None] * rays[:, :, None]  # (N, W, K, 2)
        blocks = points.floor().long().clamp(0, side - 1)
        rows = self.rows[:, None, None]
        wall = self.walls[rows, blocks[..., 1], blocks[..., 0]]
        goal_block = 2 * self.goal + 1
        goal = (blocks == goal_block[:, None, None]).all(-1)
        hit = wall | goal
        first = hit.float().argmax(-1)  # (N, W): the first sample inside a wall or the goal
        distance = distances[first] * offsets.cos()  # the perpendicular distance: no fisheye
        height = (res / distance.clamp(min=0.3)).clamp(max=res)  # (N, W) pixels
        hit_point = points.gather(2, first[..., None, None].expand(-1, -1, 1, 2)).squeeze(2)
        fraction = hit_point - hit_point.floor()
        edge = torch.minimum(fraction, 1 - fraction)  # how near the hit is to a block's x and y edges
        across_x = edge[..., 0] < edge[..., 1]
        color = WALL_COLORS.to(device)[across_x.long()]  # (N, W, 3)
        is_goal = goal.gather(2, first[..., None]).squeeze(-1)
        color = torch.where(is_goal[..., None], GOAL_COLOR.to(device), color).float()
        shade = (1.0 / (1.0 + 0.15 * distance)).clamp(0.3, 1.0)
        row = torch.arange(res, device=device).float() + 0.5 - res / 2  # (H,)
        on_wall = row.abs()[None, :, None] < height[:, None, :] / 2  # (N, H, W)
        background = torch.where(row[None] < 0, SKY.to(device)[:, None], FLOOR.to(device)[:, None])  # (3, H)
        walls = (color * shade[..., None]).permute(0, 2, 1)[:, :, None, :]  # (N, 3, 1, W)
        frame = torch.where(on_wall[:, None], walls, background[None, :, :, None].float())  # (N, 3, H, W)
        return (frame * self.playing[:, None, None, None].float()).round()
