"""Save (and, with a W&B run, log) grids of randomized images: one row per randomizer family.

python examples/sim/render_samples.py --out samples.png [--wandb]
"""

from __future__ import annotations

import argparse

import torch
from torchvision.utils import save_image

from leyden_sim.content import DigitContent
from leyden_sim.datasets import RandomizedImageDataset, tobin_localization
from leyden_sim.randomizers import FAMILIES, full_randomization


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="samples.png")
    parser.add_argument("--per-row", type=int, default=12)
    parser.add_argument(
        "--wandb", action="store_true", help="also log the grids to W&B (offline without login)"
    )
    args = parser.parse_args()
    rows = []
    settings = (
        [("none", [])] + [(name, [cls()]) for name, cls in FAMILIES.items()] + [("all", full_randomization())]
    )
    for _, randomizers in settings:
        dataset = RandomizedImageDataset(DigitContent(), randomizers, length=args.per_row, image_size=48)
        rows.append(torch.stack([dataset[i][0] for i in range(args.per_row)]))
    tobin = tobin_localization(length=args.per_row, image_size=48)
    rows.append(torch.stack([tobin[i][0] for i in range(args.per_row)]))
    grid = torch.cat(rows)
    save_image(grid, args.out, nrow=args.per_row, padding=1)
    print(f"rows: {[name for name, _ in settings] + ['tobin_localization']} -> {args.out}")
    if args.wandb:
        from lightning.pytorch.loggers import WandbLogger

        from leyden_core.wandb_logging import choose_wandb_mode, log_image_grid

        choose_wandb_mode()
        logger = WandbLogger(project="leyden-sim", name="randomizer-samples")
        log_image_grid(logger, "samples/randomizers", grid, nrow=args.per_row)
        logger.experiment.finish()


if __name__ == "__main__":
    main()
