"""RL² visual navigation (Duan et al., 2016, §5.3): does the agent find the goal faster the second time?

On held-out random mazes (tasks no training run drew), each trial is two episodes in the same maze with
the same goal and start. For the first and the second episode this script reports the success rate and the
mean length of the successful episodes, for

* RL² from ``--ckpt`` (trained with ``leyden fit --config examples/rl/rl2_maze.yaml``), sampling as trained;
* a random agent (forward, left and right equally likely);
* the shortest path (a breadth-first search over cell and heading: the fewest actions that reach the goal).

The paper's result: near-perfect success on small mazes, and a clearly shorter second episode. It writes
``benchmarks/results/rl2_maze.json`` (``--quick``: ``rl2_maze_quick.json``) and, with ``--gif``, an animation
of the agent's first-person view over one trial.

    python benchmarks/rl2_maze.py --ckpt runs/rl2_maze/checkpoints/last.ckpt
    python benchmarks/rl2_maze.py --ckpt runs/rl2_maze/checkpoints/last.ckpt --size 9   # large mazes
    python benchmarks/rl2_maze.py --quick                       # 50 mazes, random and shortest path only
"""

from __future__ import annotations

import argparse
import os
from collections import deque
from pathlib import Path

import numpy as np
import torch

from leyden_core.benchmarking import merge_results, read_results, result_row
from leyden_rl.meta.maze import DIRECTIONS, MazeTrials, RandomMazes
from leyden_rl.meta.policy_base import feedback
from leyden_rl.meta.rl2 import RL2
from leyden_rl.meta.video import record_trial

EVAL_SEED = 123_456  # training streams draw from small seeds: these mazes are held out


def shortest_path(walls: np.ndarray, start: tuple[int, int], heading: int, goal: tuple[int, int]) -> int:
    """The fewest forward / turn actions from (start, heading) to the goal cell (breadth-first search)."""
    directions = DIRECTIONS.numpy()
    seen, queue = {(start, heading)}, deque([(start, heading, 0)])
    while queue:
        cell, facing, steps = queue.popleft()
        if cell == goal:
            return steps
        dx, dy = directions[facing]
        moves = [(cell, (facing + 1) % 4), (cell, (facing - 1) % 4)]
        if not walls[2 * cell[1] + 1 + dy, 2 * cell[0] + 1 + dx]:
            moves.append(((cell[0] + dx, cell[1] + dy), facing))
        for state in moves:
            if state not in seen:
                seen.add(state)
                queue.append((*state, steps + 1))
    raise ValueError("the goal cannot be reached: not a perfect maze")


@torch.no_grad()
def play(family: RandomMazes, trials: int, policy: torch.nn.Module | None) -> dict:
    """Play ``trials`` held-out trials; per episode (1, 2, ...): whether it reached the goal and its length."""
    batch = MazeTrials(family, trials, EVAL_SEED)
    obs = batch.reset()
    generator = torch.Generator().manual_seed(EVAL_SEED)
    if policy is not None:
        hidden = policy.initial_state(trials)
        previous = torch.zeros(1, trials, family.num_actions + 2)
    success = np.zeros((trials, family.num_episodes), dtype=bool)
    length = np.zeros((trials, family.num_episodes), dtype=np.int64)
    for _ in range(batch.trial_length):
        if policy is None:
            action = torch.randint(3, (trials,), generator=generator)
        else:
            out = policy(obs[None], previous, hidden)
            hidden = out.hidden
            action = torch.multinomial(out.logits[0].softmax(-1), 1, generator=generator).squeeze(1)
        episode, steps = batch.episodes.clone(), batch.episode_steps.clone()
        obs, reward, done = batch.step(action)
        for i in done.nonzero().flatten().tolist():
            success[i, episode[i]] = bool(batch.reached[i])
            length[i, episode[i]] = steps[i] + 1
        if policy is not None:
            previous = feedback(action, reward, done, family.num_actions)[None]
    return {"success": success, "length": length, "batch": batch}


def summary(success: np.ndarray, length: np.ndarray) -> dict[str, float]:
    """Per episode: the success rate and the mean length of the successful episodes (None: none succeeded);
    and how much shorter the second episode is than the first (the target's measure, 1 − length2 / length1)."""
    out = {}
    for e in range(success.shape[1]):
        out[f"success_episode{e + 1}"] = float(success[:, e].mean())
        out[f"mean_length_episode{e + 1}"] = (
            float(length[success[:, e], e].mean()) if success[:, e].any() else None
        )
    first, second = out.get("mean_length_episode1"), out.get("mean_length_episode2")
    if first and second is not None:
        out["episode2_shorter_by"] = 1 - second / first
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ckpt", type=Path, default=None, help="a trained RL2 checkpoint on RandomMazes")
    parser.add_argument(
        "--size", type=int, default=None, help="maze size (default: the checkpoint's, else 5)"
    )
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="50 mazes")
    parser.add_argument("--gif", type=Path, default=None, help="write the agent's view of one trial here")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    trials = 50 if args.quick else args.trials
    model = RL2.load_from_checkpoint(args.ckpt, map_location="cpu", weights_only=True) if args.ckpt else None
    family = model.tasks if model is not None else RandomMazes()
    if args.size is not None:
        family = RandomMazes(**{**family.__dict__, "size": args.size})
    setting = f"maze:{family.size}"
    results = {}
    if model is not None:
        played = play(family, trials, model.policy.eval())
        results["leyden.RL2"] = summary(played["success"], played["length"])
    played = play(family, trials, None)
    results["random"] = summary(played["success"], played["length"])
    batch: MazeTrials = played["batch"]
    best = [
        shortest_path(batch.walls[i].numpy(), tuple(batch.start[i].tolist()), int(batch.start_heading[i]),
                      tuple(batch.goal[i].tolist()))
        for i in range(trials)
    ]  # fmt: skip
    results["shortest_path"] = {
        **{f"success_episode{e + 1}": 1.0 for e in range(family.num_episodes)},
        **{f"mean_length_episode{e + 1}": float(np.mean(best)) for e in range(family.num_episodes)},
    }
    rows = [
        result_row(method, setting, EVAL_SEED, metric, value)
        for method, metrics in results.items()
        for metric, value in metrics.items()
    ]
    for method, metrics in results.items():
        print(
            f"{setting} {method}: "
            + ", ".join(f"{k} {v if v is None else round(v, 3)}" for k, v in metrics.items())
        )
    if args.gif and model is not None:
        from PIL import Image

        frames = record_trial(model.policy.eval(), family, EVAL_SEED, scale=128 // family.resolution)
        images = [Image.fromarray(frame) for frame in frames]
        images[0].save(args.gif, save_all=True, append_images=images[1:], duration=80, loop=0)
    out = args.out or Path("benchmarks/results") / ("rl2_maze_quick.json" if args.quick else "rl2_maze.json")
    # one results file: a run on one maze size replaces that size's rows, keeps the others' and their mazes
    earlier = read_results(out.stem, out.parent)
    mazes = {**earlier.get("mazes", {}), setting: family.__dict__}
    merge_results(out.stem, rows, lambda row: row["setting"] == setting, results_dir=out.parent, earlier=earlier,
                  trials=trials, mazes=mazes, checkpoint=str(args.ckpt) if args.ckpt else None)  # fmt: skip


if __name__ == "__main__":
    main()
