"""The scripted block-stacking expert: a reactive controller that finishes the first unfinished stage.

It reads the simulator's state (hand, finger opening, block positions, the task's stages), not the
observation, and decides from that state alone, so it can label *any* state — the learner's own
states in DAgger included. For the first stage not in place, ``(block, base)``:

* holding ``block``: lift to a clearance height, move over ``base``, descend until the block sits
  on it, open;
* not holding it: release whatever the fingers hold, rise to the clearance height, move over
  ``block``, descend with open fingers, close.

When every stage is in place it opens and rises. The motion is proportional and saturates at the
env's ``MAX_MOVE`` per step.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from leyden_rl.imitation.blocks.env import FINGER_OPEN, MAX_MOVE, BlockStackingEnv
from leyden_rl.imitation.blocks.tasks import BLOCK_HALF

ALIGNED = 0.006  # hand within 6 mm (xy) of where it goes: descend
HELD_GAP = 0.004  # fingers at most 4 mm from a face they squeeze: holding
CLEARANCE = 0.045  # transit height of the hand above the highest other block's top
OPEN, CLOSE = -1.0, 1.0


def _move(error: np.ndarray) -> np.ndarray:
    return np.clip(error / MAX_MOVE, -1.0, 1.0)


def _holding(hand: np.ndarray, block: np.ndarray, opening: float) -> bool:
    near = np.linalg.norm(block[:2] - hand[:2]) < 0.015 and abs(block[2] - hand[2]) < 0.015
    return bool(near and -0.008 < opening < HELD_GAP)


def current_stage(env: BlockStackingEnv) -> tuple[int, int]:
    """The first stage not in place, ``(block, base)``; ``(-1, -1)`` when every stage is."""
    pending = [s for s, ok in zip(env.stages, env.stages_done()) if not ok]
    return pending[0] if pending else (-1, -1)


def expert_action(env: BlockStackingEnv) -> np.ndarray:
    """The expert's action (4,) in the env's current state."""
    hand, opening, blocks = env.hand_position, env.finger_opening, env.block_positions
    block, base = current_stage(env)
    if block < 0:  # finished: let go and rise out of the way
        return np.array([0.0, 0.0, *_move(np.array([0.15 - hand[2]])), OPEN], dtype=np.float32)
    held = _holding(hand, blocks[block], opening)
    others = [b for b in range(len(blocks)) if b != block or not held]
    transit_z = max(blocks[others, 2].max() + BLOCK_HALF, 0.0) + CLEARANCE
    if held:
        goal = blocks[base] + np.array([0.0, 0.0, 2 * BLOCK_HALF])
        xy_error = goal[:2] - hand[:2]
        if np.linalg.norm(xy_error) > ALIGNED:
            if hand[2] < transit_z - 0.01 and np.linalg.norm(xy_error) > 0.02:
                return np.array([0.0, 0.0, *_move(np.array([transit_z - hand[2]])), CLOSE], dtype=np.float32)
            return np.array([*_move(np.append(xy_error, transit_z - hand[2])), CLOSE], dtype=np.float32)
        drop = goal[2] + 0.002 - blocks[block, 2]
        if drop < -0.004:  # still above the base: descend, keep correcting xy
            return np.array([*_move(np.append(xy_error, drop)), CLOSE], dtype=np.float32)
        return np.array([0.0, 0.0, 0.0, OPEN], dtype=np.float32)
    goal = blocks[block]
    xy_error = goal[:2] - hand[:2]
    fingers_open = opening > FINGER_OPEN - 0.008
    if np.linalg.norm(xy_error) > ALIGNED:
        if not fingers_open:  # release what the fingers hold (a just-placed block) before moving
            return np.array([0.0, 0.0, 0.0, OPEN], dtype=np.float32)
        if hand[2] < transit_z - 0.01 and np.linalg.norm(xy_error) > 0.02:
            return np.array([0.0, 0.0, *_move(np.array([transit_z - hand[2]])), OPEN], dtype=np.float32)
        return np.array([*_move(np.append(xy_error, transit_z - hand[2])), OPEN], dtype=np.float32)
    descend = goal[2] - hand[2]
    if descend < -0.004:
        if not fingers_open:  # descend only with open fingers
            return np.array([0.0, 0.0, 0.0, OPEN], dtype=np.float32)
        return np.array([*_move(np.append(xy_error, descend)), OPEN], dtype=np.float32)
    if opening < -0.008:  # closed on nothing (the block moved): open and try again
        return np.array([*_move(np.append(xy_error, 0.0)), OPEN], dtype=np.float32)
    return np.array([*_move(np.append(xy_error, 0.0)), CLOSE], dtype=np.float32)


def block_stacking_expert(obs: np.ndarray, env: gym.Env) -> np.ndarray:
    """:func:`expert_action` as a recorder policy ``expert(obs, env)`` (reads the unwrapped env)."""
    return expert_action(env.unwrapped)
