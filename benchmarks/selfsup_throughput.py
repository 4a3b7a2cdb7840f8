"""SimCLR training throughput: Leyden (LightningModule + Trainer) against a plain PyTorch loop doing
identical work, measured side by side in one run (alternating, so machine load hits both alike).

Identical work: ResNet-18 with the small-image stem at 32 px, batch 256, two kornia views per image
made on the device, the 2-layer projection head, NT-Xent (t = 0.2), AdamW; images are the digits
resized to 32 px, fed by a DataLoader; labels are withheld (-1), so the online probe is idle. The
ratio is Leyden images/s over plain images/s (1.0 = no framework overhead).

    python benchmarks/selfsup_throughput.py --quick   # batch 32, 2 timed steps per side, 2 alternations
    python benchmarks/selfsup_throughput.py           # batch 256, 10 timed steps per side, 3 alternations
    python benchmarks/selfsup_throughput.py --steps 2 --repeats 2   # batch 256, what fits a shared CPU
    python benchmarks/selfsup_throughput.py --device cuda          # on a GPU: results/selfsup_throughput_gpu.json

(On one CPU thread a batch-256 step of ResNet-18 at 32 px is ~1 TFLOP of work, about a minute per
step on a shared 2-core machine, so --quick shrinks the batch; the code path is the same.) The 1-minute
load average at the start and end goes into the JSON, since other jobs on the machine add noise.

It also reports the share of a plain step's time spent making the two views (``augmentation_share``),
timed in separate steps after the alternations (with the device synchronised around the augmentation,
which would otherwise slow the timed plain loop): on a GPU, augmentation on the device should be a
small part of a step.
"""

from __future__ import annotations

import argparse
import os
import time

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from leyden_core.backbones import create_backbone
from leyden_core.benchmarking import StepTimer, synchronize, write_results
from leyden_core.data import load_digits_images
from leyden_core.multihead import MultiHeadNet
from leyden_selfsup.augment import ViewAugment
from leyden_selfsup.base import mlp
from leyden_selfsup.losses import nt_xent
from leyden_selfsup.simclr import SimCLR

CONFIG = {
    "backbone": "resnet18",
    "small_images": True,
    "image_size": 32,
    "temperature": 0.2,
    "lr": 1e-3,
    "weight_decay": 1e-6,
}


def dataset() -> TensorDataset:
    images, labels = load_digits_images(32, 3)
    return TensorDataset(images, torch.full_like(labels, -1))


def loader(batch_size: int) -> DataLoader:
    return DataLoader(dataset(), batch_size=batch_size, shuffle=True, drop_last=True)


def leyden_images_per_s(steps: int, warmup: int, batch_size: int, device: torch.device) -> float:
    torch.manual_seed(0)
    model = SimCLR(**CONFIG)
    timer = StepTimer(warmup)
    trainer = pl.Trainer(
        accelerator="gpu" if device.type == "cuda" else "cpu",
        devices=1,
        max_steps=warmup + steps,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[timer],
        limit_val_batches=0,
        num_sanity_val_steps=0,
    )
    trainer.fit(model, train_dataloaders=loader(batch_size))
    return steps * batch_size / (timer.end - timer.start)


def plain_setup(device: torch.device) -> tuple[MultiHeadNet, ViewAugment, torch.optim.Optimizer]:
    torch.manual_seed(0)
    net = MultiHeadNet(create_backbone("resnet18", small_images=True))
    net.add_head("projection", mlp(net.feature_dim, 512, 128))
    net.to(device).train()
    decay = [p for p in net.parameters() if p.ndim > 1]
    no_decay = [p for p in net.parameters() if p.ndim <= 1]
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": CONFIG["weight_decay"]},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=CONFIG["lr"],
    )
    return net, ViewAugment(32, 3).to(device), optimizer


def plain_step(net, augment, optimizer, images: torch.Tensor) -> None:
    x1, x2 = augment(images), augment(images)
    z1, z2 = net.heads["projection"](net.features(torch.cat([x1, x2]))).chunk(2)
    loss = nt_xent(z1, z2, CONFIG["temperature"])
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def plain_images_per_s(steps: int, warmup: int, batch_size: int, device: torch.device) -> float:
    net, augment, optimizer = plain_setup(device)
    step, start = 0, None
    while step < warmup + steps:
        for images, _ in loader(batch_size):
            if step == warmup:
                synchronize(device)
                start = time.perf_counter()
            plain_step(net, augment, optimizer, images.to(device, non_blocking=True))
            step += 1
            if step == warmup + steps:
                break
    synchronize(device)
    return steps * batch_size / (time.perf_counter() - start)


def augmentation_share(steps: int, batch_size: int, device: torch.device) -> float:
    """Share of a plain step's time spent making the two views (the device synchronised around them)."""
    net, augment, optimizer = plain_setup(device)
    images = next(iter(loader(batch_size)))[0].to(device)
    plain_step(net, augment, optimizer, images)  # warm-up
    augmenting = total = 0.0
    for _ in range(steps):
        synchronize(device)
        start = time.perf_counter()
        augment(images), augment(images)
        synchronize(device)
        augmenting += time.perf_counter() - start
        plain_step(net, augment, optimizer, images)
        synchronize(device)
        total += time.perf_counter() - start
    return augmenting / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--batch-size", type=int, default=None, help="default: 32 with --quick, else 256")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per side and alternation")
    parser.add_argument("--repeats", type=int, default=None, help="alternations of the two sides")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    args = parser.parse_args()
    device = torch.device(args.device)
    steps = args.steps or (2 if args.quick else 10)
    repeats = args.repeats or (2 if args.quick else 3)
    load_at_start = os.getloadavg()[0]
    args.batch_size = args.batch_size or (32 if args.quick else 256)
    warmup = 1
    threads = int(os.environ.get("OMP_NUM_THREADS", "1"))
    torch.set_num_threads(threads)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU {threads} thread"
    setting = f"resnet18-small 32px batch {args.batch_size}, {where}"
    rows = []
    for repeat in range(repeats):
        for method, measure in (
            ("plain_pytorch", plain_images_per_s),
            ("leyden.SimCLR", leyden_images_per_s),
        ):
            value = measure(steps, warmup, args.batch_size, device)
            rows.append(
                {
                    "method": method,
                    "setting": setting,
                    "seed": repeat,
                    "metric": "images_per_s",
                    "value": value,
                }
            )
            print(f"repeat {repeat} {method:14s} {value:.2f} images/s", flush=True)
    mean = lambda m: sum(r["value"] for r in rows if r["method"] == m) / repeats  # noqa: E731
    ratio = mean("leyden.SimCLR") / mean("plain_pytorch")
    rows.append(
        {
            "method": "leyden.SimCLR",
            "setting": "ratio to plain_pytorch",
            "seed": None,
            "metric": "throughput_ratio",
            "value": ratio,
        }
    )
    print(
        f"Leyden / plain PyTorch throughput ratio: {ratio:.3f} (mean of {repeats} alternations, {steps} steps each)"
    )
    share = augmentation_share(steps, args.batch_size, device)
    rows.append(
        {
            "method": "plain_pytorch",
            "setting": setting,
            "seed": None,
            "metric": "augmentation_share",
            "value": share,
        }
    )
    print(f"augmentation share of a plain step: {share:.3f}")
    load = {"start": load_at_start, "end": os.getloadavg()[0]}
    print(f"1-minute load average: {load['start']:.2f} at the start, {load['end']:.2f} at the end")
    name = "selfsup_throughput" + ("_gpu" if device.type == "cuda" else "") + ("_quick" if args.quick else "")
    write_results(name, rows, load_average_1min=load)


if __name__ == "__main__":
    main()
