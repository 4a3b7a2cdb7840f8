"""One-shot imitation (Duan et al., 2017): a policy conditioned on one demonstration of the task.

On particle reaching (:mod:`leyden_rl.imitation.particle_reaching`) the task — which coloured
landmark to reach — appears only in a demonstration recorded in *another* layout. The policy:

1. **demonstration network** — each demo step is embedded by attending over that step's landmarks
   (features: landmark − agent, distance, colour, the agent's velocity and action, time);
2. **attention over the demo's steps**, the query computed from the current observation, gives a
   task context ``c`` (Duan et al.'s temporal attention);
3. **context network** — attention over the *current* landmarks, scored from (landmark, ``c``),
   picks where to go; a small MLP maps (chosen landmark − agent, velocity, ``c``) to the force.

The whole thing is trained by behaviour cloning (MSE to the scripted expert's actions) on pairs of
episodes of the same task: one is the conditioning demo, the other provides (observation, action)
targets. Two baselines share the network and the data and change only ``c``:
``conditioning="none"`` (a learned constant: no task information, so chance ≈ 1/K) and
``"oracle"`` (an embedding of the true target colour: the upper bound of the architecture).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import gymnasium as gym
import lightning.pytorch as pl
import numpy as np
import torch
import torchmetrics
from torch import nn
from torch.utils.data import DataLoader, Dataset

from leyden_core.errors import LeydenConfigError
from leyden_rl.imitation.particle_reaching import (
    HORIZON,
    NUM_COLOURS,
    SLOT,
    SUCCESS_RADIUS,
    ParticleState,
    expert_actions,
    observe,
    sample_states,
    step_states,
)
from leyden_rl.losses import behaviour_cloning_loss
from leyden_rl.networks import mlp

CONDITIONINGS = ("demo", "none", "oracle")


def _landmark_features(obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(..., 58) observations → per-slot features [rel (2), distance, colour (6)] (..., 6, 9) and mask."""
    slots = obs[..., 4:].unflatten(-1, (NUM_COLOURS, SLOT))
    rel = slots[..., 1:3]
    dist = rel.norm(dim=-1, keepdim=True)
    return torch.cat([rel, dist, slots[..., 3:]], -1), slots[..., 0] > 0.5


def _masked_softmax(scores: torch.Tensor, mask: torch.Tensor, dim: int) -> torch.Tensor:
    return scores.masked_fill(~mask, float("-inf")).softmax(dim)


class DemoConditionedPolicy(nn.Module):
    """π(a | o, demo): see the module docstring. Shapes: obs (B, T, 58); demo_obs (B, Td, 58);
    demo_actions (B, Td, 2); demo_mask (B, Td) True where the step exists; target_colour (B,)."""

    def __init__(self, conditioning: str = "demo", width: int = 64) -> None:
        super().__init__()
        if conditioning not in CONDITIONINGS:
            raise LeydenConfigError(f"unknown conditioning {conditioning!r}", f"use one of {CONDITIONINGS}")
        self.conditioning, self.width = conditioning, width
        feat = 3 + NUM_COLOURS
        # only what this conditioning uses, so DDP finds no unused parameters
        if conditioning == "demo":
            self.demo_landmark = mlp(feat + 2 + 2 + 1, (width,), width, "relu")  # + velocity, action, time
            self.demo_landmark_score = nn.Linear(width, 1)
            self.query = mlp(4 + feat * NUM_COLOURS, (width,), width, "relu")
            self.key, self.value = nn.Linear(width, width), nn.Linear(width, width)
        elif conditioning == "none":
            self.no_task = nn.Parameter(torch.zeros(width))
        else:
            self.oracle = nn.Embedding(NUM_COLOURS, width)
        self.landmark_score = mlp(feat + width, (width,), 1, "relu")
        self.action_head = mlp(2 + 2 + width, (width, width), 2, "relu")

    def embed_demo(
        self, demo_obs: torch.Tensor, demo_actions: torch.Tensor, demo_mask: torch.Tensor
    ) -> torch.Tensor:
        """(B, Td, width): each step summarised by attention over its landmarks (time = step / last step)."""
        feats, present = _landmark_features(demo_obs)
        steps = torch.arange(demo_obs.shape[1], device=demo_obs.device, dtype=demo_obs.dtype)
        last = (demo_mask.sum(1, keepdim=True) - 1).clamp(min=1).to(demo_obs.dtype)
        time = (steps / last)[..., None, None].expand(*feats.shape[:-1], 1)
        agent = torch.cat([demo_obs[..., 2:4], demo_actions], -1)[..., None, :].expand(*feats.shape[:-1], 4)
        h = self.demo_landmark(torch.cat([feats, agent, time], -1))
        weights = _masked_softmax(self.demo_landmark_score(h).squeeze(-1), present, -1)
        return (weights.unsqueeze(-1) * h).sum(-2)

    def context(
        self, obs: torch.Tensor, demo_obs: torch.Tensor | None, demo_actions: torch.Tensor | None,
        demo_mask: torch.Tensor | None, target_colour: torch.Tensor | None,
    ) -> torch.Tensor:  # fmt: skip
        """The task context ``c`` (B, T, width) for each current observation."""
        b, t = obs.shape[:2]
        if self.conditioning == "none":
            return self.no_task.expand(b, t, self.width)
        if self.conditioning == "oracle":
            return self.oracle(target_colour)[:, None].expand(b, t, self.width)
        steps = self.embed_demo(demo_obs, demo_actions, demo_mask)  # (B, Td, W)
        feats, _ = _landmark_features(obs)
        q = self.query(torch.cat([obs[..., :4], feats.flatten(-2)], -1))  # (B, T, W)
        scores = q @ self.key(steps).transpose(1, 2) / math.sqrt(self.width)  # (B, T, Td)
        return _masked_softmax(scores, demo_mask[:, None, :], -1) @ self.value(steps)

    def forward(
        self, obs: torch.Tensor, demo_obs: torch.Tensor | None = None, demo_actions: torch.Tensor | None = None,
        demo_mask: torch.Tensor | None = None, target_colour: torch.Tensor | None = None,
    ) -> torch.Tensor:  # fmt: skip
        """Action means (B, T, 2)."""
        c = self.context(obs, demo_obs, demo_actions, demo_mask, target_colour)
        feats, present = _landmark_features(obs)
        scores = self.landmark_score(torch.cat([feats, c[..., None, :].expand(*feats.shape[:-1], -1)], -1))
        weights = _masked_softmax(scores.squeeze(-1), present, -1)
        goal = (weights.unsqueeze(-1) * feats[..., :2]).sum(-2)
        return self.action_head(torch.cat([goal, obs[..., 2:4], c], -1))


# ---------------------------------------------------------------------------------------- data


def expert_episodes(
    states: ParticleState, rng: np.random.Generator, action_noise: float = 0.0, horizon: int = HORIZON
) -> tuple[np.ndarray, np.ndarray]:
    """Run the scripted expert on a batch of episodes: observations (N, H, 58), expert actions (N, H, 2).

    With ``action_noise`` the executed force is the expert's plus N(0, σ²) noise while the label
    stays the expert's clean action (DART-style noise injection: the demonstrations then cover
    the states a slightly wrong learner drifts into, which is what plain BC lacks).
    """
    obs, actions = [], []
    for _ in range(horizon):
        obs.append(observe(states))
        a = expert_actions(states)
        actions.append(a)
        step_states(states, a + action_noise * rng.standard_normal(a.shape) if action_noise else a)
    return np.stack(obs, 1), np.stack(actions, 1)


def sample_tasks(
    rng: np.random.Generator, num: int, num_landmarks: int, demo_stride: int = 5, action_noise: float = 0.0,
    mass_range: tuple[float, float] | None = None, damping_range: tuple[float, float] | None = None,
) -> dict[str, torch.Tensor]:  # fmt: skip
    """``num`` tasks, each a clean demo and a (noisy-execution) target episode of the same colour."""
    colours = rng.integers(NUM_COLOURS, size=num)
    demo_obs, demo_actions = expert_episodes(
        sample_states(rng, num, num_landmarks, colours, mass_range, damping_range), rng
    )
    targets = sample_states(rng, num, num_landmarks, colours, mass_range, damping_range)
    obs, actions = expert_episodes(targets, rng, action_noise)
    return {
        "demo_obs": torch.from_numpy(demo_obs[:, ::demo_stride]),
        "demo_actions": torch.from_numpy(demo_actions[:, ::demo_stride]),
        "demo_mask": torch.ones(num, demo_obs[:, ::demo_stride].shape[1], dtype=torch.bool),
        "obs": torch.from_numpy(obs), "actions": torch.from_numpy(actions),
        "target_colour": torch.from_numpy(colours),
        "mass": torch.from_numpy(targets.mass), "damping": torch.from_numpy(targets.damping),
    }  # fmt: skip


class _Tasks(Dataset):
    """One item per task; with ``steps``, a random subset of that many of the target episode's steps."""

    def __init__(self, tasks: dict[str, torch.Tensor], steps: int | None = None) -> None:
        self.tasks, self.steps = tasks, steps

    def __len__(self) -> int:
        return len(self.tasks["obs"])

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        item = {k: v[i] for k, v in self.tasks.items()}
        if self.steps is not None:
            idx = torch.randperm(item["obs"].shape[0])[: self.steps]
            item["obs"], item["actions"] = item["obs"][idx], item["actions"][idx]
        return item


class OneShotParticleDataModule(pl.LightningDataModule):
    """Expert demonstration pairs on particle reaching, ``num_train_tasks`` split evenly over ``landmarks``.

        Training and validation tasks come from different random streams of ``seed`` (held-out
        layouts, colour orders and starts). ``steps_per_task``: each training item carries that many
    random steps of its target episode (more tasks per unit of compute; ``None`` = all 60).
    ``action_noise``: see :func:`expert_episodes`;
        ``mass_range``/``damping_range`` train under dynamics randomization.
    """

    def __init__(
        self, num_train_tasks: int = 4000, num_val_tasks: int = 250, landmarks: tuple[int, ...] = (2, 3, 4, 5, 6),
        demo_stride: int = 5, action_noise: float = 0.3, mass_range: tuple[float, float] | None = None,
        damping_range: tuple[float, float] | None = None, steps_per_task: int | None = 12, batch_size: int = 32,
        seed: int = 0,
    ) -> None:  # fmt: skip
        super().__init__()
        self.save_hyperparameters()
        self.train_set: _Tasks | None = None
        self.val_set: _Tasks | None = None

    def _tasks(self, num: int, stream: int, steps: int | None) -> _Tasks:
        hp = self.hparams
        parts = [
            sample_tasks(
                np.random.default_rng([hp.seed, stream, k]), num // len(hp.landmarks), k, hp.demo_stride,
                hp.action_noise if stream == 0 else 0.0, hp.mass_range, hp.damping_range,
            )
            for k in hp.landmarks
        ]  # fmt: skip
        return _Tasks({key: torch.cat([p[key] for p in parts]) for key in parts[0]}, steps)

    def setup(self, stage: str) -> None:
        if self.train_set is None:
            self.train_set = self._tasks(self.hparams.num_train_tasks, 0, self.hparams.steps_per_task)
            self.val_set = self._tasks(self.hparams.num_val_tasks, 1, None)  # rollouts start at step 0

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_set, batch_size=self.hparams.batch_size, shuffle=True, drop_last=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=self.hparams.batch_size)


# ---------------------------------------------------------------------------------------- method


class OneShotImitation(pl.LightningModule):
    """Behaviour cloning of a demonstration-conditioned policy across many particle-reaching tasks.

    Logs ``train/loss``, ``val/loss`` and ``val/success`` (closed-loop success rate on the validation
    tasks' *target* layouts, conditioned on their demos: a torchmetrics mean, so it is exact under DDP).
    """

    def __init__(
        self, conditioning: str = "demo", width: int = 64, learning_rate: float = 1e-3, weight_decay: float = 0.0,
    ) -> None:  # fmt: skip
        super().__init__()
        self.save_hyperparameters()
        self.policy = DemoConditionedPolicy(conditioning, width)
        self.val_success = torchmetrics.MeanMetric()

    def forward(self, obs: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.policy(
            obs, batch["demo_obs"], batch["demo_actions"], batch["demo_mask"], batch["target_colour"]
        )

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = behaviour_cloning_loss(self(batch["obs"], batch), batch["actions"], "mse")
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        loss = behaviour_cloning_loss(self(batch["obs"], batch), batch["actions"], "mse")
        self.log("val/loss", loss, sync_dist=True)
        self.val_success.update(self.rollout_success(batch).float())
        self.log("val/success", self.val_success, prog_bar=True)

    @torch.no_grad()
    def rollout_success(self, batch: dict[str, torch.Tensor], horizon: int = HORIZON) -> torch.Tensor:
        """Replay each task's target episode from its first observation under this policy; success (B,)."""
        first = {k: batch[k].cpu().numpy() for k in ("target_colour", "mass", "damping")}
        states = states_from_observation(batch["obs"][:, 0].cpu().numpy(), **first)
        return torch.from_numpy(run_policy(self, states, batch, horizon))

    @torch.no_grad()
    def act(self, obs: np.ndarray, batch: dict[str, torch.Tensor]) -> np.ndarray:
        """Deterministic forces (N, 2) for current observations (N, 58) given each one's demo."""
        out = self(torch.as_tensor(obs, device=self.device)[:, None], batch)[:, 0]
        return out.clamp(-1.0, 1.0).cpu().numpy()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        hp = self.hparams
        return torch.optim.AdamW(self.parameters(), lr=hp.learning_rate, weight_decay=hp.weight_decay)


def states_from_observation(
    obs: np.ndarray, target_colour: np.ndarray, mass: np.ndarray, damping: np.ndarray
) -> ParticleState:
    """Rebuild states from observations (N, 58), the tasks' target colours and their physics."""
    n = len(obs)
    slots = obs[:, 4:].reshape(n, NUM_COLOURS, SLOT)
    present = slots[..., 0] > 0.5
    colours = np.where(present, slots[..., 3:].argmax(-1), -1)
    return ParticleState(
        pos=obs[:, :2].astype(np.float64), vel=obs[:, 2:4].astype(np.float64),
        landmarks=slots[..., 1:3] + obs[:, None, :2], present=present, colours=colours,
        target=(colours == target_colour[:, None]).argmax(-1), mass=mass, damping=damping,
    )  # fmt: skip


def run_policy(
    model: OneShotImitation, states: ParticleState, batch: dict[str, torch.Tensor], horizon: int = HORIZON
) -> np.ndarray:
    """Roll ``model`` out on ``states`` (in place) for ``horizon`` steps; success on the last step (N,)."""
    for _ in range(horizon):
        step_states(states, model.act(observe(states), batch))
    return states.distance_to_target() < SUCCESS_RADIUS


def evaluate_success(
    model: OneShotImitation, num_landmarks: int, num_tasks: int, seed: int, demo_stride: int = 5,
    mass_range: tuple[float, float] | None = None, damping_range: tuple[float, float] | None = None,
) -> np.ndarray:  # fmt: skip
    """Success (N,) on ``num_tasks`` fresh tasks of ``seed``: a clean expert demo in one layout, the
    policy acting in another layout of the same colour (physics drawn from the given ranges)."""
    rng = np.random.default_rng([seed, 2, num_landmarks])
    tasks = sample_tasks(rng, num_tasks, num_landmarks, demo_stride, 0.0, mass_range, damping_range)
    states = sample_states(
        rng, num_tasks, num_landmarks, tasks["target_colour"].numpy(), mass_range, damping_range
    )
    model.eval()
    return run_policy(model, states, {k: v.to(model.device) for k, v in tasks.items()})


@torch.no_grad()
def evaluate_success_in_envs(
    model: OneShotImitation | None, make_env: Callable[[], gym.Env], num_tasks: int, seed: int,
    demo_stride: int = 5,
) -> np.ndarray:  # fmt: skip
    """Success (N,) on ``num_tasks`` tasks played through gymnasium envs from ``make_env``.

    ``make_env`` builds a :class:`~leyden_rl.imitation.particle_reaching.ParticleReachingEnv`, possibly
    wrapped — e.g. by leyden-sim's ``PhysicsRandomization``, which then draws every episode's physics
    through the env's ``physics_parameters``. Per task the scripted expert demonstrates in one episode
    and ``model`` acts in a fresh episode of the same colour (``model=None``: the expert acts, the
    reference row). Success is judged on the last step, as in :func:`evaluate_success`.
    """
    rng = np.random.default_rng([seed, 3])
    colours, seeds = rng.integers(NUM_COLOURS, size=num_tasks), rng.integers(2**31, size=(num_tasks, 2))
    envs = [make_env() for _ in range(num_tasks)]
    demo_obs, demo_actions = [], []
    for env, colour, (demo_seed, _) in zip(envs, colours, seeds):
        obs, _ = env.reset(seed=int(demo_seed), options={"target_colour": int(colour)})
        steps = []
        for _ in range(HORIZON):
            action = expert_actions(env.unwrapped.state)[0]
            steps.append((obs, action))
            obs = env.step(action)[0]
        demo_obs.append(np.stack([o for o, _ in steps[::demo_stride]]))
        demo_actions.append(np.stack([a for _, a in steps[::demo_stride]]))
    obs = np.stack([
        env.reset(seed=int(s), options={"target_colour": int(c)})[0] for env, c, (_, s) in zip(envs, colours, seeds)
    ])  # fmt: skip
    if model is not None:
        model.eval()
        batch = {
            "demo_obs": torch.from_numpy(np.stack(demo_obs)), "demo_actions": torch.from_numpy(np.stack(demo_actions)),
            "demo_mask": torch.ones(num_tasks, len(demo_obs[0]), dtype=torch.bool),
            "target_colour": torch.from_numpy(colours),
        }  # fmt: skip
        batch = {k: v.to(model.device) for k, v in batch.items()}
    for _ in range(HORIZON):
        if model is None:
            actions = np.concatenate([expert_actions(env.unwrapped.state) for env in envs])
        else:
            actions = model.act(obs, batch)
        results = [env.step(a) for env, a in zip(envs, actions)]
        obs = np.stack([r[0] for r in results])
    return np.array([r[4]["success"] for r in results])
