"""Sim-to-real on digits: train only on SynDigits, test on scikit-learn's real handwritten digits.

Settings: no randomization; full randomization; full minus each randomizer family in turn; and
DANN (full randomization + the unlabeled real training digits, per-domain BatchNorm, tested
with AdaBN). Each source-only model is also tested after AdaBN (BatchNorm statistics of the
unlabeled real training digits; no extra training), the cheap adaptation baseline. Every row
trains the same network with the same optimizer and schedule (``DANN`` with ``domain_weight=0``
is the source-only classifier). No real label is used for training; the last model is tested on the
real test split (35% of the 1,797 digits, stratified) and on the real validation split (15%, disjoint
from the test split and from the unlabeled target images): choices between settings (e.g.
``--pen-fraction``) are made on ``real_val_acc`` only, never on ``real_test_acc``. Writes
benchmarks/results/sim2real_digits.json (tidy rows) and prints a table.

``--target blended``: the real digits blended onto real photographs (the MNIST-M recipe,
:class:`~leyden_sim.blended.BlendedDigitsDataModule`) replace the clean scans as the target; the
source is rendered in colour with :func:`~leyden_sim.datamodules.photo_digits_randomization`
(photo textures disjoint from the target's photographs). Two reference rows join: a model trained
on the clean real training digits (``clean_real_digits``: source only and DANN, the analogue of
Ganin & Lempitsky's MNIST → MNIST-M) and one trained on the blended training labels
(``target_labels``, the upper bound). Every blended row runs the same number of optimizer steps
(``epochs × length / batch_size``), whatever its training set's size. Writes
benchmarks/results/sim2real_blended.json.

    python benchmarks/sim2real_digits.py --quick      # a few minutes on 2 CPU cores
    python benchmarks/sim2real_digits.py              # the full budget (3 seeds, 10k images)
    python benchmarks/sim2real_digits.py --target blended --quick
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import torch

from leyden_core.benchmarking import merge_results, read_results, result_row
from leyden_sim.adabn import AdaBN
from leyden_sim.blended import BlendedDigitsDataModule
from leyden_sim.content import PEN_FRACTION
from leyden_sim.dann import DANN
from leyden_sim.datamodules import SynDigitsDataModule, digits_randomization, photo_digits_randomization
from leyden_sim.randomizers import FAMILIES

RESULTS = {
    "digits": Path(__file__).parent / "results" / "sim2real_digits.json",
    "blended": Path(__file__).parent / "results" / "sim2real_blended.json",
}
REAL_SOURCES = ("clean_real_digits", "target_labels")  # settings trained on real images, not renders


def settings(only: list[str] | None, target: str = "digits") -> list[tuple[str, str, list[str] | None]]:
    """(method, setting, excluded families or None for no randomization)."""
    rows = [("source_only", "no_randomization", None), ("source_only", "full_randomization", [])]
    rows += [("source_only", f"full_minus_{family}", [family]) for family in FAMILIES]
    rows += [("dann", "full_randomization", [])]
    if target == "blended":
        rows += [("source_only", "clean_real_digits", None), ("dann", "clean_real_digits", None)]
        rows += [("source_only", "target_labels", None)]
    return [r for r in rows if only is None or f"{r[0]}/{r[1]}" in only or r[1] in only]


_rendered: dict[tuple, torch.utils.data.Dataset] = {}


def run(
    method: str, setting: str, exclude: list[str] | None, seed: int, args: argparse.Namespace
) -> dict[str, dict[str, float]]:
    """Train on SynDigits (seed fixes the rendered items and the weights); real val and test accuracy.

    Returns ``{method: {"real_val_acc": ..., "real_test_acc": ...}}``; a source-only model is also tested after AdaBN
    (``source_only+adabn``: BatchNorm statistics of the unlabeled real training digits), which
    costs no training. DANN trains with per-domain BatchNorm and is tested after AdaBN.
    """
    pl.seed_everything(seed, workers=True)
    blended = args.target == "blended"
    randomization = photo_digits_randomization if blended else digits_randomization
    randomizers = (
        [] if exclude is None else randomization(exclude, args.slant, args.elastic, tuple(args.aspect))
    )
    data = SynDigitsDataModule(
        randomizers,
        length=args.length,
        with_target=method == "dann",
        pen_fraction=args.pen_fraction,
        image_size=args.image_size,
        channels=3 if blended else 1,
        batch_size=args.batch_size,
        seed=seed,
        target=args.target,
    )
    key = (None if exclude is None else tuple(exclude), seed)
    data.source = _rendered.get(key)  # source-only and DANN with the same randomization share the images
    if setting in REAL_SOURCES:  # a real labeled training set instead of renders
        data.real = BlendedDigitsDataModule(args.image_size, batch_size=args.batch_size, seed=seed)
        data.real.setup("fit")
        data.source = data.real.clean_train if setting == "clean_real_digits" else data.real.train
    model = DANN(
        in_chans=3 if blended else 1,
        lr=args.lr,
        domain_weight=args.domain_weight if method == "dann" else 0.0,
        objective=args.objective,
        optimizer=args.optimizer,
        anneal_lr=not args.constant_lr,
        discriminator_width=args.dann_width,
        per_domain_bn=method == "dann",
        label_smoothing=args.label_smoothing,
        backbone_kwargs={"width": args.width},
        mixup_alpha=args.mixup if method == "source_only" else 0.0,
    )
    steps = args.epochs * (args.length // args.batch_size)  # the same for every blended row
    trainer = pl.Trainer(
        max_epochs=-1 if blended else args.epochs,
        max_steps=steps if blended else -1,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        deterministic=True,
    )
    trainer.fit(model, datamodule=data)
    if setting not in REAL_SOURCES:
        _rendered[key] = data.source
    accuracies = {}
    if method == "source_only":
        accuracies[method] = evaluate(model, data, [])
    accuracies["dann" if method == "dann" else "source_only+adabn"] = evaluate(model, data, [AdaBN()])
    return accuracies


def evaluate(model: DANN, data: SynDigitsDataModule, callbacks: list[pl.Callback]) -> dict[str, float]:
    """Accuracy on the real validation split (for choosing settings) and the real test split (reported)."""
    trainer = pl.Trainer(
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=callbacks,
    )
    return {
        "real_val_acc": float(trainer.validate(model, datamodule=data, verbose=False)[0]["val/acc"]),
        "real_test_acc": float(trainer.test(model, datamodule=data, verbose=False)[0]["test/acc"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--target",
        default="digits",
        choices=list(RESULTS),
        help="the real domain: the clean scans, or the scans blended onto photographs (MNIST-M recipe)",
    )
    parser.add_argument("--quick", action="store_true", help="small budget: 1 seed, 3k images, 4 epochs")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--first-seed", type=int, default=0, help="seeds first-seed .. first-seed + seeds - 1"
    )
    parser.add_argument("--length", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--image-size", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--domain-weight", type=float, default=0.3)
    parser.add_argument("--objective", default="dann", choices=["dann", "confusion"])
    parser.add_argument("--optimizer", default="adamw", choices=["adamw", "sgd"])
    parser.add_argument("--constant-lr", action="store_true", help="no lr / (1 + 10 p)^0.75 annealing")
    parser.add_argument(
        "--pen-fraction", type=float, default=PEN_FRACTION, help="share of procedurally handwritten SynDigits"
    )
    parser.add_argument("--slant", type=float, default=0.35, help="Stroke slant range ±")
    parser.add_argument("--elastic", type=float, default=3.0, help="Stroke elastic amplitude range 0..(px)")
    parser.add_argument(
        "--aspect", type=float, nargs=2, default=[0.55, 1.0], help="Stroke aspect (width scale) range"
    )
    parser.add_argument("--width", type=int, default=32, help="leyden_tiny_cnn width (features: 2×width)")
    parser.add_argument("--mixup", type=float, default=0.0, help="mixup α for the source-only rows (0: off)")
    parser.add_argument("--label-smoothing", type=float, default=0.0, help="of the classification loss")
    parser.add_argument("--dann-width", type=int, default=256, help="discriminator hidden width")
    parser.add_argument(
        "--ablation-seeds", type=int, help="seeds for the family-removed rows (default: --seeds)"
    )
    parser.add_argument("--only", nargs="*", help="run only these settings (e.g. full_randomization)")
    parser.add_argument("--out", type=Path, help="default: results/sim2real_<target>[_quick].json")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.length, args.epochs = 1, 3000, 4
    if args.out is None:  # a quick run never overwrites the full results
        results = RESULTS[args.target]
        args.out = results.with_name(results.stem + "_quick.json") if args.quick else results
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))

    def seeds_of(setting: str) -> range:
        count = args.seeds if args.ablation_seeds is None or "_minus_" not in setting else args.ablation_seeds
        return range(args.first_seed, args.first_seed + count)

    planned = settings(args.only, args.target)
    rows: list[dict] = []
    seconds: list[float] = []
    for method, setting, exclude in planned:
        for seed in seeds_of(setting):
            start = time.time()
            for name, accuracies in run(method, setting, exclude, seed, args).items():
                for metric, accuracy in accuracies.items():
                    rows.append(result_row(f"leyden.{name}", setting, seed, metric, round(accuracy, 4)))
                    seconds.append(round(time.time() - start, 1))
                print(
                    f"{name:18s} {setting:28s} seed {seed}: real val acc {accuracies['real_val_acc']:.4f} "
                    f"test acc {accuracies['real_test_acc']:.4f} ({time.time() - start:.0f}s)",
                    flush=True,
                )

    # the seeds are in the rows (a file may gather several runs' seeds); the rest of the budget is shared
    budget = {
        k: v
        for k, v in vars(args).items()
        if k not in ("out", "only", "seeds", "first_seed", "ablation_seeds")
    }
    # one results file: a run of some settings and seeds replaces those rows and keeps the others (and their
    # seconds, which line up with the rows)
    rerun = {(setting, seed) for _, setting, _ in planned for seed in seeds_of(setting)}
    earlier = read_results(args.out.stem, args.out.parent)
    kept_seconds = [
        t for row, t in zip(earlier.get("rows", []), earlier.get("seconds_per_row", []), strict=False)
        if (row["setting"], row["seed"]) not in rerun
    ]  # fmt: skip
    merge_results(
        args.out.stem,
        rows,
        lambda row: (row["setting"], row["seed"]) in rerun,
        results_dir=args.out.parent,
        earlier=earlier,
        budget=budget,
        seconds_per_row=kept_seconds + seconds,
    )
    written = read_results(args.out.stem, args.out.parent)["rows"]  # the table: every run's rows in the file
    print("\nmethod                    setting                      metric         mean ± std over seeds")
    for name, setting, metric in dict.fromkeys((r["method"], r["setting"], r["metric"]) for r in written):
        values = [
            r["value"] for r in written if (r["method"], r["setting"], r["metric"]) == (name, setting, metric)
        ]
        print(
            f"{name:25s} {setting:28s} {metric:14s} {np.mean(values):.4f} ± {np.std(values):.4f}"
            f"  (n={len(values)})"
        )


if __name__ == "__main__":
    main()
