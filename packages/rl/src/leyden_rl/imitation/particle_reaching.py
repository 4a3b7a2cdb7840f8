"""Particle reaching (Duan et al., 2017, §4.1): a 2-D point mass and K coloured landmarks.

A *task* is the colour of the landmark to reach. The observation never says which colour that is:
only a demonstration of the same task (in another layout) does. Positions, the agent's start,
which K of the 6 colours are present and their order over the landmark slots are random on every
reset, so a policy cannot memorise a layout; it has to read the target colour off the demonstration.

Everything is vectorised over a batch of episodes (:class:`ParticleState`, :func:`sample_states`,
:func:`step_states`, :func:`observe`, :func:`expert_actions`) so that data generation and
evaluation step thousands of episodes at once; :class:`ParticleReachingEnv` is the gymnasium view
of a batch of one, so the same physics serves ``gym.make`` and the benchmark.

Observation (58 floats, whatever K): agent position (2), velocity (2), then 6 landmark slots of
``[present, landmark − agent (2), colour one-hot (6)]``; slots beyond K are zero.
Action: a force in [−1, 1]², integrated as ``v ← (1 − damping)·v + dt·a/mass``, ``x ← x + dt·v``;
the arena has walls at ±1.5 that stop the motion into them, and speed is capped at ``MAX_SPEED`` per
axis, so a light, undamped particle stays inside the declared observation box.
Mass and damping are float attributes declared in ``physics_parameters``: leyden-sim's
``PhysicsRandomization`` (or any wrapper) may set them before ``reset``; the env redraws them itself
on each reset only when ``mass_range`` / ``damping_range`` are given.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import gymnasium as gym
import numpy as np

from leyden_core.errors import LeydenConfigError

NUM_COLOURS = 6  # also the largest number of landmarks
SLOT = 1 + 2 + NUM_COLOURS
OBS_DIM = 4 + NUM_COLOURS * SLOT
DT, HORIZON, SUCCESS_RADIUS, MIN_SEPARATION = 0.1, 60, 0.1, 0.35
ARENA, MAX_SPEED = 1.5, 10.0  # |x| <= ARENA (walls), |v| <= MAX_SPEED: both inside the observation box
NOMINAL_MASS, NOMINAL_DAMPING = 1.0, 0.2


@dataclass
class ParticleState:
    """A batch of N episodes: arrays with a leading N axis (landmark arrays padded to 6 slots)."""

    pos: np.ndarray  # (N, 2)
    vel: np.ndarray  # (N, 2)
    landmarks: np.ndarray  # (N, 6, 2)
    present: np.ndarray  # (N, 6) bool
    colours: np.ndarray  # (N, 6) int, -1 where absent
    target: np.ndarray  # (N,) slot index of the landmark to reach
    mass: np.ndarray  # (N,)
    damping: np.ndarray  # (N,)

    def __getitem__(self, idx) -> ParticleState:
        return ParticleState(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})

    @property
    def target_colour(self) -> np.ndarray:
        return self.colours[np.arange(len(self.target)), self.target]

    def distance_to_target(self) -> np.ndarray:
        return np.linalg.norm(self.landmarks[np.arange(len(self.target)), self.target] - self.pos, axis=-1)


def check_num_landmarks(num_landmarks: int) -> None:
    if not 1 <= num_landmarks <= NUM_COLOURS:
        raise LeydenConfigError(
            f"num_landmarks must be in 1..{NUM_COLOURS}, got {num_landmarks}",
            "pass num_landmarks between 2 and 6",
        )


def sample_states(
    rng: np.random.Generator,
    num: int,
    num_landmarks: int,
    target_colours: np.ndarray | None = None,
    mass_range: tuple[float, float] | None = None,
    damping_range: tuple[float, float] | None = None,
) -> ParticleState:
    """``num`` fresh layouts; the target colour is ``target_colours`` (N,) or drawn at random.

    Landmarks are ≥ ``MIN_SEPARATION`` apart in [−1, 1]² (rejection sampling); the K colours are a
    random subset of the 6 that always contains the target colour, in a random slot order.
    """
    check_num_landmarks(num_landmarks)
    k = num_landmarks
    if target_colours is None:
        target_colours = rng.integers(NUM_COLOURS, size=num)
    landmarks = np.zeros((num, NUM_COLOURS, 2))
    colours = np.full((num, NUM_COLOURS), -1)
    target = np.zeros(num, dtype=np.int64)
    for i in range(num):
        while True:
            pts = rng.uniform(-1.0, 1.0, size=(k, 2))
            gaps = np.linalg.norm(pts[:, None] - pts[None], axis=-1) + 2 * np.eye(k)
            if gaps.min() >= MIN_SEPARATION:
                break
        others = rng.permutation(np.delete(np.arange(NUM_COLOURS), target_colours[i]))[: k - 1]
        order = rng.permutation(np.concatenate([[target_colours[i]], others]))
        landmarks[i, :k], colours[i, :k] = pts, order
        target[i] = int(np.flatnonzero(order == target_colours[i])[0])
    mass = rng.uniform(*mass_range, size=num) if mass_range else np.full(num, NOMINAL_MASS)
    damping = rng.uniform(*damping_range, size=num) if damping_range else np.full(num, NOMINAL_DAMPING)
    return ParticleState(
        pos=rng.uniform(-1.0, 1.0, size=(num, 2)), vel=np.zeros((num, 2)), landmarks=landmarks,
        present=colours >= 0, colours=colours, target=target, mass=mass, damping=damping,
    )  # fmt: skip


def step_states(state: ParticleState, actions: np.ndarray) -> None:
    """Advance every episode one step in place (forces clipped to [−1, 1]).

    A wall stops the velocity component into it: otherwise a particle pressed against a wall would
    gather speed it never shows in its position.
    """
    force = np.clip(actions, -1.0, 1.0)
    vel = (1.0 - state.damping[:, None]) * state.vel + DT * force / state.mass[:, None]
    vel = np.clip(vel, -MAX_SPEED, MAX_SPEED)
    moved = state.pos + DT * vel
    state.pos = np.clip(moved, -ARENA, ARENA)
    state.vel = np.where(moved != state.pos, 0.0, vel)


def observe(state: ParticleState) -> np.ndarray:
    """(N, 58) float32 observations (see the module docstring)."""
    n = len(state.pos)
    slots = np.zeros((n, NUM_COLOURS, SLOT), dtype=np.float32)
    slots[..., 0] = state.present
    slots[..., 1:3] = (state.landmarks - state.pos[:, None]) * state.present[..., None]
    rows, cols = np.nonzero(state.present)
    slots[rows, cols, 3 + state.colours[rows, cols]] = 1.0
    return np.concatenate([state.pos, state.vel, slots.reshape(n, -1)], axis=1).astype(np.float32)


def expert_actions(state: ParticleState, gain: float = 4.0, damping_gain: float = 2.0) -> np.ndarray:
    """The scripted expert: a PD controller towards the target landmark, clipped to the force limit."""
    goal = state.landmarks[np.arange(len(state.target)), state.target]
    return np.clip(gain * (goal - state.pos) - damping_gain * state.vel, -1.0, 1.0).astype(np.float32)


class ParticleReachingEnv(gym.Env):
    """Gymnasium env over one episode of :class:`ParticleState`.

    ``reset(options={"target_colour": c})`` fixes the task (how a demonstration and a test episode
    share it); otherwise the colour is random. ``info``: ``task`` (target colour), ``success``
    (within ``SUCCESS_RADIUS`` of the target now), ``distance``. Reward: −distance to the target.
    The episode is truncated after ``horizon`` steps; success is judged on the last step.
    """

    metadata = {"render_modes": []}
    physics_parameters = ("mass", "damping")  # leyden-sim's PhysicsRandomization may set these before reset

    def __init__(
        self,
        num_landmarks: int = 3,
        horizon: int = HORIZON,
        mass_range: tuple[float, float] | None = None,
        damping_range: tuple[float, float] | None = None,
        render_mode: None = None,
    ) -> None:
        check_num_landmarks(num_landmarks)
        if render_mode is not None:
            raise LeydenConfigError("ParticleReaching-v0 does not render", "use render_mode=None")
        self.num_landmarks, self.horizon = num_landmarks, horizon
        self.mass_range, self.damping_range = mass_range, damping_range
        self.mass, self.damping = NOMINAL_MASS, NOMINAL_DAMPING
        self.observation_space = gym.spaces.Box(
            -10.0, 10.0, (OBS_DIM,), np.float32
        )  # |x| ≤ ARENA, |v| ≤ MAX_SPEED, |landmark − x| ≤ 1 + ARENA
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.state: ParticleState | None = None
        self.t = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        colour = (options or {}).get("target_colour")
        self.state = sample_states(
            self.np_random, 1, self.num_landmarks, None if colour is None else np.array([colour]),
            self.mass_range, self.damping_range,
        )  # fmt: skip
        if self.mass_range is None:
            self.state.mass[:] = self.mass
        if self.damping_range is None:
            self.state.damping[:] = self.damping
        self.mass, self.damping = float(self.state.mass[0]), float(self.state.damping[0])
        self.t = 0
        return observe(self.state)[0], self._info()

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        step_states(self.state, np.asarray(action, dtype=np.float64)[None])
        self.t += 1
        info = self._info()
        return observe(self.state)[0], -info["distance"], False, self.t >= self.horizon, info

    def _info(self) -> dict:
        distance = float(self.state.distance_to_target()[0])
        return {
            "task": int(self.state.target_colour[0]),
            "distance": distance,
            "success": distance < SUCCESS_RADIUS,
        }


ENV_ID = (
    "leyden/ParticleReaching-v0"  # gym.make("leyden_rl.imitation.particle_reaching:" + ENV_ID) imports us
)
gym.register(ENV_ID, entry_point=ParticleReachingEnv)
