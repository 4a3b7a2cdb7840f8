"""A MuJoCo table with labelled blocks and a two-finger gripper: the block-stacking world of Duan et al. (2017).

The model is an MJCF string built in code (:func:`block_world_xml`): a table plane, ``num_blocks``
free 4 cm cubes of distinct colours, and a gripper (first in the tree, so its joints are qpos[0:5]) — a hand on three slide joints (x, y, z) driven by
position actuators, gravity-compensated, with two fingers on slide joints squeezing by position
actuators. A grasp holds by friction between the fingers and the block (elliptic cones).

Action (4 floats in [−1, 1]): a hand displacement (× ``MAX_MOVE`` metres per step; in z it moves the
position target, kept within ``MAX_MOVE`` of the hand, so a load cannot make the hand creep) and a grip
command (> 0 close, ≤ 0 open). One env step is ``substeps`` physics steps of ``timestep`` seconds.

Observation (``obs_type="state"``, ``8 + 6·num_blocks`` floats): hand position (3, table frame),
hand velocity (3), finger opening and its velocity (2), then per block *in label order* its position
relative to the hand (3) and its velocity (3). ``obs_type="pixels"``: an RGB image from the front
camera. Rendering (``render_mode="rgb_array"``, ``render_size`` = (height, width) ≤ (480, 640)) uses MuJoCo's renderer (set ``MUJOCO_GL=egl`` on a
headless machine).

A task (:mod:`~leyden_rl.imitation.blocks.tasks`) is drawn from ``tasks`` at each reset, or fixed by
``reset(options={"task": "ab cd"})``; the block layout and hand start are random, blocks never
overlapping. ``info``: ``task`` (index in ``env.tasks``, −1 for a task given by name), ``task_name``,
``stages_done``, ``num_stages``, ``success`` (every stage in place now), ``diverged`` (below). Reward:
the fraction of stages in place. Episodes are truncated after ``steps_per_stage · stages + 20`` steps
(or ``horizon``); success is judged on the last step.

``physics_parameters`` (``block_mass`` in kg, ``block_friction`` coefficient, ``gripper_gain``: the
fingers' stiffness and damping as a multiple of nominal, so the squeeze scales and the closing speed
does not): constructor arguments, and float attributes applied to the compiled model at every reset,
so leyden-sim's ``PhysicsRandomization`` may set them before ``reset``. A grasp holds while the
block's weight is small against squeeze × friction. The default 5 ms physics step is stable for
blocks up to 0.1 kg; with heavier blocks a slipping grasp can make MuJoCo's solution diverge (it
warns and resets the state): use ``timestep=0.0025, substeps=20`` (the same 50 ms per env step, half
the speed). With it the simulation stayed stable and the scripted expert stacked two-stage tasks in
every episode on a grid of 0.05–0.2 kg, friction 0.6–2 and gain 1–3 (8 episodes per point), except 6
of 8 at 0.2 kg, friction 0.6 and gain 1; at 5 ms, 0.2 kg blocks diverged in up to 6 of 8 episodes.

A diverged simulation ends the episode (``truncated``, ``info["diverged"]``, never a success): MuJoCo
flagged a bad position, velocity or acceleration (and reset the state), or a hand or block moves faster
than ``MAX_SPEED``. Such an episode's states, which can reach thousands, would otherwise be training data.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import gymnasium as gym
import numpy as np

from leyden_core.errors import LeydenConfigError
from leyden_rl.imitation.blocks.tasks import (
    BLOCK_HALF,
    LABELS,
    all_tasks,
    check_num_blocks,
    num_stages,
    parse_task,
    stages,
    stages_in_place,
    task_name,
)

MAX_MOVE = 0.03  # metres of hand motion per step at |action| = 1
MAX_SPEED = 10.0  # m/s; faster hands or blocks mean the simulation diverged
FINGER_OPEN, FINGER_CLOSED = 0.03, -0.01  # finger joint targets; 0 = finger pad touching a block's face
WORKSPACE_LOW = np.array([-0.3, -0.3, 0.015])
WORKSPACE_HIGH = np.array([0.3, 0.3, 0.35])
LAYOUT_HALF_WIDTH, MIN_SEPARATION = 0.18, 0.11  # block centres in [−0.18, 0.18]², ≥ 11 cm apart
HAND_KP, FINGER_KP, FINGER_KV = 2000.0, 300.0, 8.0
NOMINAL_BLOCK_MASS, NOMINAL_BLOCK_FRICTION = 0.1, 1.0
COLOURS = (
    (0.90, 0.20, 0.20), (0.20, 0.60, 0.95), (0.25, 0.80, 0.30), (0.95, 0.80, 0.15),
    (0.70, 0.35, 0.90), (0.95, 0.55, 0.15), (0.30, 0.85, 0.85), (0.90, 0.45, 0.70),
)  # fmt: skip


def block_world_xml(num_blocks: int, timestep: float = 0.005) -> str:
    """The MJCF of the table, ``num_blocks`` blocks and the gripper."""
    h = BLOCK_HALF
    blocks = "\n".join(
        f'<body name="block_{LABELS[i]}" pos="{0.08 * i:.2f} 0.25 {h}"><freejoint/>'
        f'<geom name="block_{LABELS[i]}" type="box" size="{h} {h} {h}" mass="{NOMINAL_BLOCK_MASS}" '
        f'rgba="{r} {g} {b} 1" friction="{NOMINAL_BLOCK_FRICTION} 0.005 0.0001" condim="4" priority="1"/></body>'
        for i, (r, g, b) in enumerate(COLOURS[:num_blocks])
    )
    finger = (
        '<body name="finger_{side}" pos="0 0 0" gravcomp="1">'
        '<joint name="finger_{side}" type="slide" axis="0 {axis} 0" range="{closed} {open}" damping="1"/>'
        '<geom name="finger_{side}" type="box" size="0.012 0.005 0.015" pos="0 {sign}0.025 0" mass="0.05" '
        'rgba="0.3 0.3 0.3 1" friction="1 0.005 0.0001" condim="4"/></body>'
    )
    fingers = "".join(
        finger.format(
            side=side, sign=sign, axis=f"{sign}1", closed=FINGER_CLOSED - 0.005, open=FINGER_OPEN + 0.005
        )
        for side, sign in (("left", ""), ("right", "-"))
    )
    return f"""
<mujoco model="block_stacking">
  <option timestep="{timestep}" integrator="implicitfast" cone="elliptic" impratio="10"/>
  <visual><global offwidth="640" offheight="480"/></visual>
  <asset>
    <texture name="grid" type="2d" builtin="checker" rgb1="0.55 0.45 0.35" rgb2="0.5 0.4 0.3" width="256" height="256"/>
    <material name="table" texture="grid" texrepeat="8 8"/>
  </asset>
  <worldbody>
    <light pos="0 -0.3 1.2" dir="0 0.2 -1" diffuse="0.9 0.9 0.9"/>
    <camera name="front" pos="0 -0.75 0.55" xyaxes="1 0 0 0 0.6 0.8"/>
    <geom name="table" type="plane" size="0.5 0.5 0.02" material="table" friction="1 0.005 0.0001"/>
    <body name="hand" pos="0 0 0" gravcomp="1">
      <joint name="hand_x" type="slide" axis="1 0 0" damping="5"/>
      <joint name="hand_y" type="slide" axis="0 1 0" damping="5"/>
      <joint name="hand_z" type="slide" axis="0 0 1" damping="5"/>
      <geom name="palm" type="box" size="0.015 0.06 0.01" pos="0 0 0.035" mass="0.5" rgba="0.2 0.2 0.2 1"/>
      {fingers}
    </body>
    {blocks}
  </worldbody>
  <actuator>
    <position name="hand_x" joint="hand_x" kp="{HAND_KP}" kv="80"/>
    <position name="hand_y" joint="hand_y" kp="{HAND_KP}" kv="80"/>
    <position name="hand_z" joint="hand_z" kp="{HAND_KP}" kv="80"/>
    <position name="finger_left" joint="finger_left" kp="{FINGER_KP}" kv="{FINGER_KV}"/>
    <position name="finger_right" joint="finger_right" kp="{FINGER_KP}" kv="{FINGER_KV}"/>
  </actuator>
</mujoco>
"""


def _require_mujoco():
    # headless rendering through EGL unless the user chose a backend (as for dm_control): MuJoCo reads the
    # variable once, at import, and a failed GLFW context would break every later renderer in the process
    os.environ.setdefault("MUJOCO_GL", "egl")
    try:
        import mujoco
    except ImportError as err:
        raise LeydenConfigError(
            "the block-stacking world needs MuJoCo", "pip install 'leyden-rl[mujoco]'"
        ) from err
    return mujoco


class BlockStackingEnv(gym.Env):
    """Gymnasium env of the block world; see the module docstring."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}
    physics_parameters = ("block_mass", "block_friction", "gripper_gain")

    def __init__(
        self, num_blocks: int = 4, tasks: Sequence[str] | None = None, stage_counts: Sequence[int] = (1, 2, 3),
        steps_per_stage: int = 45, horizon: int | None = None, obs_type: str = "state", image_size: int = 84,
        timestep: float = 0.005, substeps: int = 10, render_mode: str | None = None,
        render_size: tuple[int, int] = (480, 640), block_mass: float = NOMINAL_BLOCK_MASS,
        block_friction: float = NOMINAL_BLOCK_FRICTION, gripper_gain: float = 1.0,
    ) -> None:  # fmt: skip
        check_num_blocks(num_blocks)
        if obs_type not in ("state", "pixels"):
            raise LeydenConfigError(f"unknown obs_type {obs_type!r}", "use 'state' or 'pixels'")
        if render_mode not in (None, "rgb_array"):
            raise LeydenConfigError(f"unknown render_mode {render_mode!r}", "use None or 'rgb_array'")
        mujoco = _require_mujoco()
        self.num_blocks, self.obs_type, self.render_mode = num_blocks, obs_type, render_mode
        self.tasks = [task_name(parse_task(t, num_blocks)) for t in tasks] if tasks else [
            t for k in stage_counts for t in all_tasks(num_blocks, k)
        ]  # fmt: skip
        if not self.tasks:
            raise LeydenConfigError(
                "the env has no tasks", "pass tasks=['ab cd', ...] or stage_counts=[1, 2]"
            )
        self.steps_per_stage, self.fixed_horizon, self.substeps = steps_per_stage, horizon, substeps
        self.image_size, self.render_size = image_size, tuple(render_size)
        self.model = mujoco.MjModel.from_xml_string(block_world_xml(num_blocks, timestep))
        self.data = mujoco.MjData(self.model)
        self._mujoco = mujoco
        name = lambda kind, n: mujoco.mj_name2id(self.model, kind, n)  # noqa: E731
        self._block_bodies = np.array(
            [name(mujoco.mjtObj.mjOBJ_BODY, f"block_{LABELS[i]}") for i in range(num_blocks)]
        )
        self._block_geoms = np.array(
            [name(mujoco.mjtObj.mjOBJ_GEOM, f"block_{LABELS[i]}") for i in range(num_blocks)]
        )
        self._block_qpos = self.model.jnt_qposadr[self.model.body_jntadr[self._block_bodies]]
        self._block_qvel = self.model.jnt_dofadr[self.model.body_jntadr[self._block_bodies]]
        self._nominal_inertia = self.model.body_inertia[self._block_bodies].copy()
        # the hand's and the blocks' linear velocity entries, and MuJoCo's warnings of a state it rejected
        self._linear_dofs = np.concatenate([np.arange(3), *(np.arange(v, v + 3) for v in self._block_qvel)])
        self._bad_state_warnings = tuple(
            int(w) for w in (mujoco.mjtWarning.mjWARN_BADQPOS, mujoco.mjtWarning.mjWARN_BADQVEL,
                             mujoco.mjtWarning.mjWARN_BADQACC)
        )  # fmt: skip
        if min(block_mass, block_friction, gripper_gain) <= 0:
            raise LeydenConfigError(
                f"physics must be positive, got block_mass={block_mass}, block_friction={block_friction}, "
                f"gripper_gain={gripper_gain}", f"e.g. block_mass={NOMINAL_BLOCK_MASS} (kg), block_friction="
                f"{NOMINAL_BLOCK_FRICTION}, gripper_gain=1.0",
            )  # fmt: skip
        self.block_mass = block_mass  # the physics_parameters, applied at every reset
        self.block_friction = block_friction
        self.gripper_gain = gripper_gain
        self.action_space = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
        if obs_type == "pixels":
            self.observation_space = gym.spaces.Box(0, 255, (image_size, image_size, 3), np.uint8)
        else:
            self.observation_space = gym.spaces.Box(-np.inf, np.inf, (8 + 6 * num_blocks,), np.float32)
        self._renderers: dict[tuple[int, int], object] = {}
        self.towers: tuple[tuple[int, ...], ...] = ()
        self.task_index, self.t, self.horizon = -1, 0, 0

    # ------------------------------------------------------------------ state the expert reads
    @property
    def hand_position(self) -> np.ndarray:
        return self.data.qpos[:3].copy()

    @property
    def finger_opening(self) -> float:
        """Mean finger joint position: about 0 when squeezing a block, −0.01 closed on nothing."""
        return float(self.data.qpos[3:5].mean())

    @property
    def block_positions(self) -> np.ndarray:
        return np.stack([self.data.qpos[a : a + 3] for a in self._block_qpos])

    @property
    def stages(self) -> list[tuple[int, int]]:
        return stages(self.towers)

    def stages_done(self) -> np.ndarray:
        return stages_in_place(self.block_positions, self.towers)

    # ------------------------------------------------------------------ gymnasium API
    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        task = (options or {}).get("task")
        if task is None:
            self.task_index = int(self.np_random.integers(len(self.tasks)))
            task = self.tasks[self.task_index]
        else:
            name = task_name(parse_task(task, self.num_blocks))
            self.task_index = self.tasks.index(name) if name in self.tasks else -1
        self.towers = parse_task(task, self.num_blocks)
        self.horizon = self.fixed_horizon or self.steps_per_stage * num_stages(task) + 20
        self._apply_physics()
        mj = self._mujoco
        mj.mj_resetData(self.model, self.data)
        for adr, xy in zip(self._block_qpos, self._sample_layout()):
            self.data.qpos[adr : adr + 7] = (*xy, BLOCK_HALF, 1.0, 0.0, 0.0, 0.0)
        hand = (*self.np_random.uniform(-0.1, 0.1, size=2), self.np_random.uniform(0.15, 0.25))
        self.data.qpos[:3] = hand
        self.data.qpos[3:5] = FINGER_OPEN
        self.data.ctrl[:] = (*hand, FINGER_OPEN, FINGER_OPEN)
        mj.mj_forward(self.model, self.data)
        self.t = 0
        return self._observe(), self._info()

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        action = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
        # x, y: the target is where the hand is plus the step, so the hand stops where it is told (no lag
        # carried over). z: the *target* moves, so a carried block's weight cannot make the hand creep
        # down; it stays within one step of the hand, so pushing against the table winds nothing up.
        hand = self.hand_position
        target = hand + MAX_MOVE * action[:3]
        target[2] = np.clip(self.data.ctrl[2] + MAX_MOVE * action[2], hand[2] - MAX_MOVE, hand[2] + MAX_MOVE)
        self.data.ctrl[:3] = np.clip(target, WORKSPACE_LOW, WORKSPACE_HIGH)
        self.data.ctrl[3:5] = FINGER_CLOSED if action[3] > 0 else FINGER_OPEN
        self._mujoco.mj_step(self.model, self.data, nstep=self.substeps)
        self.t += 1
        info = self._info()
        reward = info["stages_done"] / info["num_stages"]
        return self._observe(), reward, False, self.t >= self.horizon or info["diverged"], info

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array":
            return None
        return self._render(*self.render_size)

    def close(self) -> None:
        for renderer in self._renderers.values():
            renderer.close()
        self._renderers.clear()

    # ------------------------------------------------------------------ internals
    def _sample_layout(self) -> np.ndarray:
        """Block centres (N, 2) ≥ ``MIN_SEPARATION`` apart (rejection sampling)."""
        n = self.num_blocks
        while True:
            xy = self.np_random.uniform(-LAYOUT_HALF_WIDTH, LAYOUT_HALF_WIDTH, size=(n, 2))
            gaps = np.linalg.norm(xy[:, None] - xy[None], axis=-1) + np.eye(n)
            if gaps.min() >= MIN_SEPARATION:
                return xy

    def _apply_physics(self) -> None:
        m = self.model
        m.body_mass[self._block_bodies] = self.block_mass
        m.body_inertia[self._block_bodies] = self._nominal_inertia * (self.block_mass / NOMINAL_BLOCK_MASS)
        m.geom_friction[self._block_geoms, 0] = self.block_friction
        # The gain scales the squeeze (stiffness) and the damping together, so the fingers close at the
        # same speed: a stiffer, equally damped finger would close fast enough to pass through a block.
        kp, kv = FINGER_KP * self.gripper_gain, FINGER_KV * self.gripper_gain
        m.actuator_gainprm[3:5, 0] = kp
        m.actuator_biasprm[3:5, 1:3] = -kp, -kv

    def _observe(self) -> np.ndarray:
        if self.obs_type == "pixels":
            return self._render(self.image_size, self.image_size)
        hand = self.hand_position
        blocks = [
            np.concatenate([self.data.qpos[p : p + 3] - hand, self.data.qvel[v : v + 3]])
            for p, v in zip(self._block_qpos, self._block_qvel)
        ]
        return np.concatenate(
            [hand, self.data.qvel[:3], [self.finger_opening, self.data.qvel[3:5].mean()], *blocks]
        ).astype(np.float32)

    def _diverged(self) -> bool:
        # MuJoCo's warning counts are since the last reset (mj_resetData clears them); a NaN speed fails the test
        flagged = any(self.data.warning[w].number for w in self._bad_state_warnings)
        return flagged or not np.abs(self.data.qvel[self._linear_dofs]).max() <= MAX_SPEED

    def _info(self) -> dict:
        done = self.stages_done()
        diverged = self._diverged()
        return {
            "task": self.task_index, "task_name": task_name(self.towers), "stages_done": int(done.sum()),
            "num_stages": len(done), "success": bool(done.all()) and not diverged, "diverged": diverged,
        }  # fmt: skip

    def _render(self, height: int, width: int) -> np.ndarray:
        if (height, width) not in self._renderers:
            self._renderers[height, width] = self._mujoco.Renderer(self.model, height, width)
        renderer = self._renderers[height, width]
        renderer.update_scene(self.data, camera="front")
        return renderer.render().copy()


ENV_ID = "leyden/BlockStacking-v0"
