"""Record demonstrations from the command line::

    python -m leyden_rl.imitation.record --expert cartpole --env-id CartPole-v1 --episodes 20 \\
        --out demos/cartpole.npz
    python -m leyden_rl.imitation.record --expert checkpoint --checkpoint runs/ppo/checkpoints/last.ckpt \\
        --model PPO --env-id CartPole-v1 --episodes 20 --out demos/cartpole_ppo.npz
"""

from __future__ import annotations

import argparse
import json

from leyden_rl.imitation.demonstrations import episode_returns, load_demonstrations, record_demonstrations
from leyden_rl.imitation.experts import EXPERTS, make_expert


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--expert", choices=sorted(EXPERTS), required=True)
    parser.add_argument("--checkpoint", help="with --expert checkpoint: the Leyden .ckpt to act with")
    parser.add_argument("--model", default="PPO", help="with --expert checkpoint: its LightningModule class")
    parser.add_argument("--env-id", required=True)
    parser.add_argument("--env-kwargs", default="{}", help="JSON keyword arguments of the env")
    parser.add_argument("--episodes", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    kwargs = {"checkpoint": args.checkpoint, "model": args.model} if args.expert == "checkpoint" else {}
    path = record_demonstrations(
        make_expert(args.expert, **kwargs),
        args.env_id,
        args.episodes,
        args.out,
        args.seed,
        json.loads(args.env_kwargs),
    )
    returns = episode_returns(load_demonstrations(path))
    print(f"wrote {path}: {args.episodes} episodes, mean return {returns.mean():.1f}")


if __name__ == "__main__":
    main()
