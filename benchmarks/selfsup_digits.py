"""Label efficiency on scikit-learn's digits: linear-probe accuracy at 1%, 5% and 10% labels.

For each seed (which also fixes the train/val/test split), every self-supervised method pretrains on
all training images without labels with the recipe of its digits example config
(``examples/selfsup/<method>_digits.yaml``: model arguments, ``max_epochs``, gradient clipping); a
logistic regression (standardized features, sklearn) is then fit on the frozen features of the
labeled 1/5/10% and scored on the held-out test split. Baselines: the same regression on raw 8×8
pixels and on a random-init encoder. Noisy Student (teacher on 5% labels, then ``--ns-rounds``
student rounds, each student the next teacher) is compared with its own supervised teacher; every
round's test accuracy is recorded. FixMatch (its example config) trains on the same 5% labels and the
rest unlabeled; its test accuracy sits beside Noisy Student's and their shared supervised baseline
(Noisy Student's round-0 teacher). Pretraining throughput — images/s of wall time and per CPU-second
(one torch thread, so independent of the machine's other load), views made on the device included —
is recorded for every method in the same run, SimCLR's among them.

    python benchmarks/selfsup_digits.py --quick      # 1 seed, 8 pretraining epochs (a few minutes)
    python benchmarks/selfsup_digits.py              # 3 seeds, each config's budget
    python benchmarks/selfsup_digits.py --quick --methods BYOL   # one method (no Noisy Student/FixMatch)
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import torch
import yaml
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from leyden_core.benchmarking import Clock, write_results
from leyden_core.data import DigitsDataModule
from leyden_selfsup.barlow_twins import BarlowTwins
from leyden_selfsup.byol import BYOL
from leyden_selfsup.dino import DINO
from leyden_selfsup.fixmatch import FixMatch
from leyden_selfsup.jigsaw import Jigsaw
from leyden_selfsup.mae import MAE
from leyden_selfsup.moco_v2 import MoCoV2
from leyden_selfsup.moco_v3 import MoCoV3
from leyden_selfsup.noisy_student import NoisyStudent
from leyden_selfsup.rotnet import RotNet
from leyden_selfsup.semisup_data import LabeledUnlabeledDataModule
from leyden_selfsup.simclr import SimCLR
from leyden_selfsup.vicreg import VICReg

FRACTIONS = (0.01, 0.05, 0.10)
EXAMPLES = Path(__file__).parents[1] / "examples" / "selfsup"
# each method's recipe is its digits example config: tuning the config tunes the benchmark
METHODS = {
    "SimCLR": (SimCLR, "simclr_digits.yaml"),
    "MoCoV2": (MoCoV2, "moco_v2_digits.yaml"),
    "MoCoV3": (MoCoV3, "moco_v3_digits.yaml"),
    "RotNet": (RotNet, "rotnet_digits.yaml"),
    "BYOL": (BYOL, "byol_digits.yaml"),
    "DINO": (DINO, "dino_digits.yaml"),
    "BarlowTwins": (BarlowTwins, "barlow_twins_digits.yaml"),
    "VICReg": (VICReg, "vicreg_digits.yaml"),
    "MAE": (MAE, "mae_digits.yaml"),
    "Jigsaw": (Jigsaw, "jigsaw_digits.yaml"),
}
SEMI_SUPERVISED = ("NoisyStudent", "FixMatch")
TRAINER_OPTIONS = (
    "max_epochs",
    "gradient_clip_val",
)  # the configs' trainer settings that change what is learned


def recipe(config: str, max_epochs: int | None = None) -> tuple[dict, dict]:
    """An example config's model arguments and its trainer options among :data:`TRAINER_OPTIONS`
    (``max_epochs``, when given, replaces the config's budget)."""
    parsed = yaml.safe_load((EXAMPLES / config).read_text())
    options = {k: v for k, v in parsed.get("trainer", {}).items() if k in TRAINER_OPTIONS}
    return parsed["model"]["init_args"], {**options, **({"max_epochs": max_epochs} if max_epochs else {})}


def trainer(max_epochs: int, callbacks: list[pl.Callback] | None = None, **options) -> pl.Trainer:
    return pl.Trainer(
        **options,
        callbacks=callbacks,
        max_epochs=max_epochs,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
    )


def probe_accuracy(encode, seed: int, fraction: float, image_size: int) -> float:
    """Logistic regression on standardized frozen features of the labeled share; test accuracy."""
    dm = DigitsDataModule(image_size=image_size, labeled_fraction=fraction, seed=seed)
    dm.setup()
    x, y = encode(dm.labeled.tensors[0]), dm.labeled.tensors[1].numpy()
    x_test, y_test = encode(dm.test.tensors[0]), dm.test.tensors[1].numpy()
    scaler = StandardScaler().fit(x)
    classifier = LogisticRegression(max_iter=5000).fit(scaler.transform(x), y)
    return float(classifier.score(scaler.transform(x_test), y_test))


class RoundTestAccuracy(pl.Callback):
    """Test accuracy of the network each Noisy Student round ends with: [teacher, student 1, ...].

    Callbacks see the epoch end before the module does, i.e. before the student becomes the teacher.
    """

    def __init__(self) -> None:
        self.accuracies: list[float] = []

    def on_train_epoch_end(self, trainer: pl.Trainer, module: NoisyStudent) -> None:
        if (trainer.current_epoch + 1) % module.hparams.epochs_per_round:
            return
        images, labels = trainer.datamodule.test.tensors
        module.net.eval()
        with torch.no_grad():
            predictions = module.net(images, "classifier").argmax(1)
        module.net.train()
        self.accuracies.append((predictions == labels).float().mean().item())


def encoder_of(net: torch.nn.Module):
    net.eval()

    def encode(images: torch.Tensor) -> np.ndarray:
        with torch.no_grad():
            return net.features(images).numpy()

    return encode


def noisy_student(seed: int, config: dict, add) -> None:
    """Teacher on 5% labels, then ``config["rounds"]`` student rounds; test accuracy after each round."""
    pl.seed_everything(seed)
    student = NoisyStudent(backbone="leyden_tiny_cnn", image_size=16, **config)
    data = DigitsDataModule(image_size=16, batch_size=64, train_on="all", labeled_fraction=0.05, seed=seed)
    rounds = RoundTestAccuracy()
    start = time.perf_counter()
    trainer((config["rounds"] + 1) * config["epochs_per_round"], callbacks=[rounds]).fit(student, data)
    add("leyden.NoisyStudent", "train", seed, "seconds", time.perf_counter() - start)
    add("leyden.NoisyStudent.teacher", "5% labels", seed, "test_acc", rounds.accuracies[0])
    for index, accuracy in enumerate(rounds.accuracies[1:-1], start=1):
        add(f"leyden.NoisyStudent.round{index}", "5% labels", seed, "test_acc", accuracy)
    add("leyden.NoisyStudent", "5% labels", seed, "test_acc", rounds.accuracies[-1])


def fixmatch(seed: int, epochs: int | None, add) -> None:
    """FixMatch (examples/selfsup/fixmatch_digits.yaml) on 5% labels (B = 16 labeled + 7 × 16 unlabeled
    per step): test accuracy."""
    pl.seed_everything(seed)
    kwargs, options = recipe("fixmatch_digits.yaml", epochs)
    model = FixMatch(**kwargs)
    digits = DigitsDataModule(image_size=kwargs["image_size"], labeled_fraction=0.05, seed=seed)
    data = LabeledUnlabeledDataModule(digits, batch_size=16, unlabeled_ratio=7)
    start = time.perf_counter()
    trainer(**options).fit(model, data)
    add("leyden.FixMatch", "train", seed, "seconds", time.perf_counter() - start)
    images, labels = digits.test.tensors
    model.net.eval()
    with torch.no_grad():
        accuracy = (model.net(images, "classifier").argmax(1) == labels).float().mean().item()
    add("leyden.FixMatch", "5% labels", seed, "test_acc", accuracy)


def pretraining(seed: int, epochs: int | None, methods: list[str], add) -> None:
    """Baselines and the self-supervised methods: linear-probe test accuracy at each label share, and
    pretraining throughput (images/s). ``epochs`` (None: each config's ``max_epochs``) is the budget."""
    for fraction in FRACTIONS:
        add(
            "raw_pixels",
            f"{fraction:.0%} labels",
            seed,
            "test_acc",
            probe_accuracy(lambda im: im.flatten(1).numpy(), seed, fraction, 8),
        )
    pl.seed_everything(seed)
    random_net = SimCLR(**recipe("simclr_digits.yaml")[0]).net
    for fraction in FRACTIONS:
        add(
            "random_init",
            f"{fraction:.0%} labels",
            seed,
            "test_acc",
            probe_accuracy(encoder_of(random_net), seed, fraction, 16),
        )
    for name in methods:
        cls, config = METHODS[name]
        kwargs, options = recipe(config, epochs)
        pl.seed_everything(seed)
        model = cls(**kwargs)
        data = DigitsDataModule(
            image_size=kwargs["image_size"],
            batch_size=128,
            train_on="all",
            seed=seed,
            labeled_fraction=0.01,
            drop_last=True,
        )  # pretraining ignores labels
        clock = Clock()
        fit = trainer(**options)
        fit.fit(model, data)
        seconds, cpu_seconds = clock.read()
        images = fit.global_step * data.batch_size
        add(f"leyden.{name}", "pretrain", seed, "seconds", seconds)
        add(f"leyden.{name}", "pretrain", seed, "images_per_s", images / seconds)
        # one torch thread: images per CPU-second is the method's own cost, whatever else the machine runs
        add(f"leyden.{name}", "pretrain", seed, "images_per_cpu_s", images / cpu_seconds)
        for fraction in FRACTIONS:
            add(
                f"leyden.{name}",
                f"{fraction:.0%} labels",
                seed,
                "test_acc",
                probe_accuracy(encoder_of(model.net), seed, fraction, kwargs["image_size"]),
            )


def seed_rows(
    seed: int,
    epochs: int | None,
    ns_config: dict,
    methods: list[str],
    fixmatch_epochs: int | None,
    noisy_student_only: bool,
) -> list[dict]:
    """Every row of one seed, printed as it is measured."""
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    rows = []

    def add(method: str, setting: str, seed: int, metric: str, value: float) -> None:
        rows.append({"method": method, "setting": setting, "seed": seed, "metric": metric, "value": value})
        print(f"{method:22s} {setting:12s} seed={seed} {metric}={value:.4f}", flush=True)

    if "NoisyStudent" in methods:
        noisy_student(seed, ns_config, add)
    if noisy_student_only:
        return rows
    if "FixMatch" in methods:
        fixmatch(seed, fixmatch_epochs, add)
    pretraining(seed, epochs, [m for m in methods if m not in SEMI_SUPERVISED], add)
    return rows


def run(seeds: list[int], jobs: int, save, **settings) -> list[dict]:
    """Every seed's rows (``settings`` as :func:`seed_rows` takes them), ``jobs`` seeds at a time in
    separate processes; ``save(rows)`` after each seed, so a cut-off run keeps what it measured."""
    rows: list[dict] = []
    if jobs == 1:
        for seed in seeds:
            rows += seed_rows(seed, **settings)
            save(rows)
        return rows
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(seed_rows, seed, **settings) for seed in seeds]
        for future in as_completed(futures):
            rows += future.result()
            rows.sort(key=lambda row: row["seed"])  # stable: each seed's rows keep their order
            save(rows)
    return rows


def summarize(rows: list[dict]) -> str:
    table: dict[tuple[str, str], list[float]] = {}
    for row in rows:
        if row["metric"] == "test_acc":
            table.setdefault((row["method"], row["setting"]), []).append(row["value"])
    settings = [f"{f:.0%} labels" for f in FRACTIONS]
    methods = list(dict.fromkeys(m for m, _ in table))
    lines = ["| method | " + " | ".join(settings) + " |", "|---|" + "---|" * len(settings)]
    for method in methods:
        cells = []
        for setting in settings:
            values = table.get((method, setting))
            cells.append(f"{100 * np.mean(values):.1f} ± {100 * np.std(values):.1f}" if values else "")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    speed: dict[tuple[str, str], list[float]] = {}
    for row in rows:
        if row["metric"] in ("images_per_s", "images_per_cpu_s"):
            speed.setdefault((row["method"], row["metric"]), []).append(row["value"])
    if speed:
        simclr = np.mean(speed.get(("leyden.SimCLR", "images_per_cpu_s"), [np.nan]))
        lines += ["", "| method | images/s (wall) | images per CPU-s | ÷ SimCLR (CPU) |", "|---|---|---|---|"]
        for method in dict.fromkeys(m for m, _ in speed):
            wall, cpu = (np.mean(speed[(method, metric)]) for metric in ("images_per_s", "images_per_cpu_s"))
            lines.append(f"| {method} | {wall:.0f} | {cpu:.0f} | {cpu / simclr:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="1 seed, 8 pretraining epochs, 2 Noisy Student rounds of 10"
    )
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="seeds run at once, each in its own process (one torch thread each)",
    )
    parser.add_argument(
        "--epochs", type=int, help="pretraining epochs of every method (default: each config's max_epochs)"
    )
    parser.add_argument("--ns-epochs", type=int, default=30, help="Noisy Student epochs per round")
    parser.add_argument("--ns-rounds", type=int, default=3, help="Noisy Student rounds after the teacher")
    parser.add_argument("--ns-pseudo-labels", choices=("hard", "soft"), default="hard")
    parser.add_argument("--ns-lr-schedule", choices=("constant", "cosine"), default="constant")
    parser.add_argument("--ns-threshold", type=float, default=0.7, help="pseudo-label confidence threshold")
    parser.add_argument(
        "--ns-strong-aug",
        action="store_true",
        help="add affine (±15°) and Cutout (p 0.5) to the crop + jitter noise, for teacher and student alike",
    )
    parser.add_argument(
        "--fixmatch-epochs",
        type=int,
        help="FixMatch epochs (default: its config's max_epochs; 10 with --quick)",
    )
    parser.add_argument(
        "--methods",
        nargs="+",
        choices=(*METHODS, *SEMI_SUPERVISED),
        default=[*SEMI_SUPERVISED, *METHODS],
        help="methods to run (default: all); baselines always run",
    )
    parser.add_argument(
        "--noisy-student-only",
        action="store_true",
        help="skip the pretraining methods; writes results/selfsup_digits_noisy_student.json",
    )
    args = parser.parse_args()
    seeds, epochs = ([0], 8) if args.quick else (list(range(args.seeds)), args.epochs)
    ns_config = {
        "rounds": 2 if args.quick else args.ns_rounds,
        "epochs_per_round": 10 if args.quick else args.ns_epochs,
        "pseudo_labels": args.ns_pseudo_labels,
        "confidence_threshold": args.ns_threshold,
        "lr_schedule": args.ns_lr_schedule,
        "augment": {"affine_degrees": 15.0, "erase_p": 0.5} if args.ns_strong_aug else None,
    }
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    start = time.perf_counter()
    name = (
        "selfsup_digits_quick"
        if args.quick
        else "selfsup_digits_noisy_student"
        if args.noisy_student_only
        else "selfsup_digits"
    )
    recipes = {method: f"examples/selfsup/{config}" for method, (_, config) in METHODS.items()}
    recipes["FixMatch"] = "examples/selfsup/fixmatch_digits.yaml"
    complete = args.noisy_student_only or set(args.methods) == {*METHODS, *SEMI_SUPERVISED}
    rows = run(
        seeds,
        args.jobs,
        # a run of some methods only prints: it must not replace the full table's results file
        (lambda rows: write_results(name, rows, noisy_student=ns_config, recipes=recipes))
        if complete
        else (lambda rows: None),
        epochs=epochs,
        ns_config=ns_config,
        methods=args.methods,
        fixmatch_epochs=10 if args.quick else args.fixmatch_epochs,
        noisy_student_only=args.noisy_student_only,
    )
    print(summarize(rows))
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
