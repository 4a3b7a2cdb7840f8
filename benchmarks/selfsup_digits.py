"""Label efficiency on scikit-learn's digits: linear-probe accuracy at 1%, 5% and 10% labels.

For each seed (which also fixes the train/val/test split), every self-supervised method pretrains a
``leyden_tiny_cnn`` on all training images without labels; a logistic regression (standardized
features, sklearn) is then fit on the frozen features of the labeled 1/5/10% and scored on the
held-out test split. Baselines: the same regression on raw 8×8 pixels and on a random-init encoder.
Noisy Student (teacher on 5% labels, then ``--ns-rounds`` student rounds, each student the next
teacher) is compared with its own supervised teacher; every round's test accuracy is recorded.
FixMatch trains on the same 5% labels and the rest unlabeled; its test accuracy sits beside Noisy
Student's and their shared supervised baseline (Noisy Student's round-0 teacher). Pretraining
throughput (images/s, views made on the device included) is recorded beside SimCLR's in the same run.

    python benchmarks/selfsup_digits.py --quick      # 1 seed, short pretraining (a few minutes)
    python benchmarks/selfsup_digits.py              # 3 seeds, full budget
    python benchmarks/selfsup_digits.py --quick --methods BYOL   # one method (no Noisy Student/FixMatch)
"""

from __future__ import annotations

import argparse
import os
import time

import lightning.pytorch as pl
import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from leyden_core.benchmarking import write_results
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
COMMON = {
    "backbone": "leyden_tiny_cnn",
    "image_size": 16,
    "augment": {"crop_scale": (0.4, 1.0), "flip_p": 0.0},
}
METHODS = {
    "SimCLR": (SimCLR, {**COMMON, "temperature": 0.2}),
    "MoCoV2": (MoCoV2, {**COMMON, "temperature": 0.2, "queue_size": 1024, "encoder_momentum": 0.99}),
    "MoCoV3": (MoCoV3, {**COMMON, "temperature": 0.2, "hidden_dim": 512, "projection_dim": 128}),
    "RotNet": (RotNet, {"backbone": "leyden_tiny_cnn", "image_size": 16}),
    "Jigsaw": (Jigsaw, {"backbone": "leyden_tiny_cnn", "image_size": 24, "num_permutations": 100}),
    # the new methods, with the settings of their examples/selfsup/<name>_digits.yaml
    "BYOL": (BYOL, {**COMMON, "hidden_dim": 512, "projection_dim": 128, "base_momentum": 0.99}),
    "DINO": (
        DINO,
        {
            **COMMON,
            "out_dim": 1024,
            "hidden_dim": 512,
            "bottleneck_dim": 64,
            "local_crops": 4,
            "local_size": 8,
            "local_crop_scale": (0.1, 0.4),
            "teacher_temperature_warmup_epochs": 5,
            "base_momentum": 0.99,
        },
    ),
    "BarlowTwins": (BarlowTwins, {**COMMON, "projection_dim": 512, "projection_hidden_dim": 512}),
    "VICReg": (VICReg, {**COMMON, "projection_dim": 512, "projection_hidden_dim": 512}),
    "MAE": (
        MAE,
        {
            **COMMON,
            "backbone": "vit_tiny_patch16_224",
            "backbone_kwargs": {"depth": 6},
            "patch_size": 4,
            "weight_decay": 0.05,
            "warmup_epochs": 2,
        },
    ),
}
SEMI_SUPERVISED = ("NoisyStudent", "FixMatch")
FIXMATCH = {
    "backbone": "leyden_tiny_cnn",
    "image_size": 16,
    "weak_augment": {"crop_scale": (0.75, 1.0), "flip_p": 0.0},
    "optimizer": "adamw",
    "lr": 3e-3,
}


def trainer(epochs: int, callbacks: list[pl.Callback] | None = None) -> pl.Trainer:
    return pl.Trainer(
        callbacks=callbacks,
        max_epochs=epochs,
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


def fixmatch(seed: int, epochs: int, add) -> None:
    """FixMatch on 5% labels (B = 16 labeled + 7 × 16 unlabeled per step): test accuracy."""
    pl.seed_everything(seed)
    model = FixMatch(**FIXMATCH)
    digits = DigitsDataModule(image_size=16, labeled_fraction=0.05, seed=seed)
    data = LabeledUnlabeledDataModule(digits, batch_size=16, unlabeled_ratio=7)
    start = time.perf_counter()
    trainer(epochs).fit(model, data)
    add("leyden.FixMatch", "train", seed, "seconds", time.perf_counter() - start)
    images, labels = digits.test.tensors
    model.net.eval()
    with torch.no_grad():
        accuracy = (model.net(images, "classifier").argmax(1) == labels).float().mean().item()
    add("leyden.FixMatch", "5% labels", seed, "test_acc", accuracy)


def pretraining(seed: int, epochs: int, methods: list[str], add) -> None:
    """Baselines and the self-supervised methods: linear-probe test accuracy at each label share, and
    pretraining throughput (images/s)."""
    for fraction in FRACTIONS:
        add(
            "raw_pixels",
            f"{fraction:.0%} labels",
            seed,
            "test_acc",
            probe_accuracy(lambda im: im.flatten(1).numpy(), seed, fraction, 8),
        )
    pl.seed_everything(seed)
    random_net = SimCLR(**COMMON).net
    for fraction in FRACTIONS:
        add(
            "random_init",
            f"{fraction:.0%} labels",
            seed,
            "test_acc",
            probe_accuracy(encoder_of(random_net), seed, fraction, 16),
        )
    for name in methods:
        cls, kwargs = METHODS[name]
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
        start = time.perf_counter()
        fit = trainer(epochs)
        fit.fit(model, data)
        seconds = time.perf_counter() - start
        add(f"leyden.{name}", "pretrain", seed, "seconds", seconds)
        add(f"leyden.{name}", "pretrain", seed, "images_per_s", fit.global_step * data.batch_size / seconds)
        for fraction in FRACTIONS:
            add(
                f"leyden.{name}",
                f"{fraction:.0%} labels",
                seed,
                "test_acc",
                probe_accuracy(encoder_of(model.net), seed, fraction, kwargs["image_size"]),
            )


def run(
    seeds: list[int],
    epochs: int,
    ns_config: dict,
    methods: list[str],
    fixmatch_epochs: int,
    noisy_student_only: bool,
    save,
) -> list[dict]:
    """Every row as it is measured; ``save(rows)`` after each seed, so a cut-off run keeps what it measured."""
    rows = []

    def add(method: str, setting: str, seed: int, metric: str, value: float) -> None:
        rows.append({"method": method, "setting": setting, "seed": seed, "metric": metric, "value": value})
        print(f"{method:22s} {setting:12s} seed={seed} {metric}={value:.4f}", flush=True)

    for seed in seeds:
        if "NoisyStudent" in methods:
            noisy_student(seed, ns_config, add)
        if noisy_student_only:
            save(rows)
            continue
        if "FixMatch" in methods:
            fixmatch(seed, fixmatch_epochs, add)
        pretraining(seed, epochs, [m for m in methods if m not in SEMI_SUPERVISED], add)
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
    speed: dict[str, list[float]] = {}
    for row in rows:
        if row["metric"] == "images_per_s":
            speed.setdefault(row["method"], []).append(row["value"])
    if speed:
        lines += ["", "| method | pretraining images/s |", "|---|---|"]
        lines += [f"| {method} | {np.mean(values):.0f} |" for method, values in speed.items()]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="1 seed, 8 pretraining epochs, 2 Noisy Student rounds of 10"
    )
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=20, help="pretraining epochs per method")
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
    parser.add_argument("--fixmatch-epochs", type=int, default=60, help="FixMatch epochs (10 with --quick)")
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
    complete = args.noisy_student_only or set(args.methods) == {*METHODS, *SEMI_SUPERVISED}
    rows = run(
        seeds,
        epochs,
        ns_config,
        args.methods,
        10 if args.quick else args.fixmatch_epochs,
        args.noisy_student_only,
        # a run of some methods only prints: it must not replace the full table's results file
        (lambda rows: write_results(name, rows, noisy_student=ns_config))
        if complete
        else (lambda rows: None),
    )
    print(summarize(rows))
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
