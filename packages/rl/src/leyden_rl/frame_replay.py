"""Replay for stacked pixel observations that stores every frame once (uint8).

A stack of ``k`` frames shares ``k − 1`` frames with the stack before it, and ``next_obs`` shares
``k − 1`` with ``obs``: storing both stacks per transition keeps each frame ``2k`` times. Here each
env has a ring of single frames; slot ``p`` holds one frame, its step within its episode (0 for the
frame an episode starts with) and, for ``step > 0``, the transition that produced it (action,
reward, terminated). A transition's ``next_obs`` is the stack ending at ``p``, its ``obs`` the stack
ending at ``p − 1``; frames before an episode's start repeat its first frame, exactly as
gymnasium's ``FrameStackObservation`` (and :mod:`leyden_rl.dmc`) pad.

It has :class:`~leyden_rl.buffers.ReplayBuffer`'s ``add``/``sample``/``state_dict`` interface, so SAC's
collection loop uses either. ``add`` learns episode starts from the done flags it is given; after a
resume (the envs are reset) the next ``add`` starts new episodes.
"""

from __future__ import annotations

import torch

from leyden_rl.buffers import ReplayBatch


class FrameReplay:
    """``capacity`` frame slots per env (a transition uses one slot, an episode start one more)."""

    def __init__(
        self, capacity: int, num_envs: int, obs_shape: tuple[int, ...], frame_stack: int, action_shape: tuple[int, ...]
    ) -> None:  # fmt: skip
        channels, *hw = obs_shape
        if channels % frame_stack:
            raise ValueError(
                f"observation channels {channels} are not a multiple of frame_stack={frame_stack}"
            )
        self.k, self.c = frame_stack, channels // frame_stack
        self.rows, self.num_envs = max(capacity // num_envs, frame_stack + 2), num_envs
        shape = (self.rows, num_envs)
        self.frames = torch.zeros((*shape, self.c, *hw), dtype=torch.uint8)
        self.step = torch.zeros(shape, dtype=torch.int64)  # step within the episode; 0 = first frame
        self.actions = torch.zeros((*shape, *action_shape))
        self.rewards = torch.zeros(shape)
        self.terminated = torch.zeros(shape, dtype=torch.bool)
        self.pos = torch.zeros(num_envs, dtype=torch.int64)  # next slot to write, per env
        self.size = torch.zeros(num_envs, dtype=torch.int64)  # slots filled, per env
        self.episode_start = torch.ones(num_envs, dtype=torch.bool)  # next add begins an episode

    def __len__(self) -> int:
        return int(self.size.sum())

    def nbytes(self) -> int:
        fields = (self.frames, self.step, self.actions, self.rewards, self.terminated)
        return sum(t.numel() * t.element_size() for t in fields)

    def _write(self, env: int, frame: torch.Tensor, step: int) -> int:
        p = int(self.pos[env])
        self.frames[p, env] = frame
        self.step[p, env] = step
        self.pos[env] = (p + 1) % self.rows
        self.size[env] = min(int(self.size[env]) + 1, self.rows)
        return p

    def add(
        self,
        obs: torch.Tensor,
        actions: torch.Tensor,
        rewards: torch.Tensor,
        next_obs: torch.Tensor,
        terminated: torch.Tensor,
        truncated: torch.Tensor,
    ) -> None:
        """Store one vector step; ``next_obs`` is the true successor (the final obs at an episode end)."""
        last = slice(-self.c, None)  # the newest frame of a (k·C, H, W) stack
        for e in range(self.num_envs):
            if self.episode_start[e]:
                self._write(e, obs[e, last], 0)
                prev_step = 0
            else:
                prev_step = int(self.step[(self.pos[e] - 1) % self.rows, e])
            p = self._write(e, next_obs[e, last], prev_step + 1)
            self.actions[p, e] = actions[e]
            self.rewards[p, e] = rewards[e]
            self.terminated[p, e] = terminated[e]
        self.episode_start = (terminated | truncated).to(torch.bool).clone()

    def _stack(self, p: torch.Tensor, env: torch.Tensor) -> torch.Tensor:
        """(B, k·C, H, W) stacks ending at slots ``p``, padded with each episode's first frame."""
        back = torch.arange(self.k - 1, -1, -1)  # k−1, …, 0 frames before p
        back = torch.minimum(back[None], self.step[p, env][:, None])  # never reach before the episode
        idx = (p[:, None] - back) % self.rows
        frames = self.frames[idx, env[:, None]]  # (B, k, C, H, W)
        return frames.flatten(1, 2)

    def sample(self, batch_size: int, gamma: float, generator: torch.Generator | None = None) -> ReplayBatch:
        """Uniform transitions whose ``obs`` stack lies entirely in live (not overwritten) slots."""
        if int(self.size.max()) < 2:
            raise ValueError("frame replay holds no complete transition yet")
        p_list, e_list, have = [], [], 0
        while have < batch_size:
            env = torch.randint(0, self.num_envs, (2 * batch_size,), generator=generator)
            age = (torch.rand(2 * batch_size, generator=generator) * self.size[env]).long()  # 0 = oldest
            p = (self.pos[env] - self.size[env] + age) % self.rows
            step = self.step[p, env]
            ok = (step > 0) & (age >= torch.clamp(step, max=self.k))  # a transition, its frames still live
            p_list.append(p[ok])
            e_list.append(env[ok])
            have += int(ok.sum())
        p, env = torch.cat(p_list)[:batch_size], torch.cat(e_list)[:batch_size]
        return ReplayBatch(
            obs=self._stack((p - 1) % self.rows, env),
            actions=self.actions[p, env],
            rewards=self.rewards[p, env],
            next_obs=self._stack(p, env),
            discount=gamma * (~self.terminated[p, env]).float(),
        )

    def state_dict(self) -> dict:
        n = int(self.size.max())
        fields = ("frames", "step", "actions", "rewards", "terminated")
        return {
            **{f: getattr(self, f)[:n].clone() for f in fields},
            "pos": self.pos.clone(),
            "size": self.size.clone(),
        }

    def load_state_dict(self, state: dict) -> None:
        n = len(state["step"])
        if n > self.rows:
            raise ValueError(f"checkpoint frame replay has {n} slots, more than this buffer's {self.rows}")
        for f in ("frames", "step", "actions", "rewards", "terminated"):
            getattr(self, f)[:n] = state[f]
        self.pos, self.size = state["pos"].clone(), state["size"].clone()
        self.episode_start[:] = True  # the envs are reset on resume
