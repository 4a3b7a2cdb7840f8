"""Checkpoints that cannot lie: atomic writes, ``last.ckpt`` always current, resumes that are checked.

Leyden's rule for ``--ckpt_path`` (the same for ``last`` and for an explicit file): **the config wins**.
The configured model (config file plus command-line overrides) is what runs; the checkpoint supplies
its weights, optimizer and loop state. A checkpoint of another LightningModule class, or one whose
weights do not fit the configured model, is refused with a two-line error; hyperparameters that differ
from the checkpoint's are listed in one notice and then used. Lightning's CLI instead re-instantiates
the model from an explicit checkpoint's hyperparameters, so a PPO checkpoint silently turned a DQN
config into a PPO run and command-line overrides were dropped.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.utilities.rank_zero import rank_zero_warn

from leyden_core.errors import LeydenConfigError

TEMP_SUFFIX = ".partial"


def non_finite_tensors(tensors: Mapping[str, Any]) -> list[str]:
    """Names of the floating-point tensors in ``tensors`` that hold a NaN or an infinity."""
    return [
        name
        for name, t in tensors.items()
        if isinstance(t, torch.Tensor) and t.is_floating_point() and not bool(torch.isfinite(t).all())
    ]


class AtomicCheckpointIO(TorchCheckpointIO):
    """Write each checkpoint to a temporary file beside its target, then ``os.replace`` it into place.

    A process killed while writing leaves the previous checkpoint intact (Lightning's own writer goes
    through an fsspec transaction that stages the file in ``/tmp`` and *moves* it, which is a copy when
    ``/tmp`` is another filesystem, so a kill mid-copy leaves a truncated target and a stray temp file).
    A leftover temporary file from such a kill is removed by the next write to the same target.

    It also refuses to replace a checkpoint with one whose weights are not finite (a warning names
    how many tensors are affected): the last finite checkpoint is what a diverged run should leave.
    """

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        if "://" in str(path):  # remote filesystems: Lightning's writer
            return super().save_checkpoint(checkpoint, path, storage_options)
        bad = non_finite_tensors(checkpoint.get("state_dict", {}))
        if bad:
            rank_zero_warn(
                f"not writing {path}: {len(bad)} of {len(checkpoint['state_dict'])} weight tensors are not "
                f"finite (e.g. {bad[0]}); the previous checkpoint is kept"
            )
            return
        atomic_torch_save(checkpoint, Path(path))


def atomic_torch_save(obj: Any, path: Path) -> None:
    """``torch.save`` to ``path`` so that readers see the old file or the complete new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{path.name}.*{TEMP_SUFFIX}"):
        stale.unlink(missing_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}{TEMP_SUFFIX}")
    try:
        with open(temp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def use_atomic_checkpoint_io(trainer: pl.Trainer) -> None:
    """Give ``trainer`` atomic checkpoint writes unless its strategy brings its own writer (DeepSpeed, FSDP)."""
    if type(trainer.strategy.checkpoint_io) is TorchCheckpointIO:
        trainer.strategy.checkpoint_io = AtomicCheckpointIO()


class LeydenCheckpoint(ModelCheckpoint):
    """Lightning's ModelCheckpoint, with ``last.ckpt`` kept current however the run is scheduled.

    * ``last.ckpt`` is written at the end of every training epoch, whether or not validation ran
      (Lightning writes it only after validation, so ``check_val_every_n_epoch: 5`` could lose 4 epochs).
    * RL methods train in one long epoch: ``last.ckpt`` is also written every ``every_n_env_steps``
      environment steps (read from the module's ``env_steps``; ``None`` turns it off).
    * ``last.ckpt`` is overwritten, never versioned: Lightning writes ``last-v1.ckpt`` when a resumed
      run finds a ``last.ckpt`` it did not write itself, leaving ``last.ckpt`` stale.

    To change the interval: ``--trainer.callbacks+=leyden_core.checkpointing.LeydenCheckpoint
    --trainer.callbacks.every_n_env_steps=10000`` (it then replaces the default one).
    """

    def __init__(
        self,
        *args: Any,
        every_n_env_steps: int | None = 50_000,
        save_last: bool | Literal["link"] = True,
        enable_version_counter: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, save_last=save_last, enable_version_counter=enable_version_counter, **kwargs)
        if every_n_env_steps is not None and every_n_env_steps < 1:
            raise LeydenConfigError(
                f"every_n_env_steps must be a positive number of steps, got {every_n_env_steps}",
                "pass a positive integer, or null to write last.ckpt only at epoch ends",
            )
        self.every_n_env_steps = every_n_env_steps
        self._next_env_steps: int | None = None

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_start(trainer, pl_module)
        env_steps = getattr(pl_module, "env_steps", None)
        if self.every_n_env_steps and isinstance(env_steps, int):
            self._next_env_steps = (env_steps // self.every_n_env_steps + 1) * self.every_n_env_steps

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        if self._next_env_steps is None or pl_module.env_steps < self._next_env_steps:
            return
        while self._next_env_steps <= pl_module.env_steps:
            self._next_env_steps += self.every_n_env_steps
        self._save_last_now(trainer)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        self._save_last_now(trainer)

    def _save_last_now(self, trainer: pl.Trainer) -> None:
        if not self._should_skip_saving_checkpoint(trainer):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))


class ApplyConfiguredOptimizerSettings(Callback):
    """After a resume, give the optimizers the configured hyperparameters, not the checkpoint's.

    Restoring an optimizer's state also restores its ``param_groups`` (learning rate, weight decay, ...),
    so ``--model.lr 0.07`` would be ignored on resume although the hyperparameters say 0.07. Lightning
    builds the optimizers from the config before it restores them (``on_fit_start`` sees them fresh);
    after the restore every group gets its configured values back, and a learning-rate schedule keeps
    its position but follows the configured base rate. The CLI adds this callback only when the
    config differs from the checkpoint's hyperparameters, so an unchanged resume stays bit-exact.
    """

    def __init__(self) -> None:
        self._configured: list[list[dict[str, Any]]] = []

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._configured = [
            [{k: v for k, v in group.items() if k != "params"} for group in optimizer.param_groups]
            for optimizer in trainer.optimizers
        ]

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        for optimizer, configured in zip(trainer.optimizers, self._configured):
            for group, fresh in zip(optimizer.param_groups, configured):
                base, restored = (
                    fresh.get("initial_lr", fresh.get("lr")),
                    group.get("initial_lr", group.get("lr")),
                )
                if base is not None and restored:
                    group["lr"] = group["lr"] * base / restored
                group.update({k: v for k, v in fresh.items() if k != "lr"})
        for config in trainer.lr_scheduler_configs:
            scheduler = config.scheduler
            if hasattr(scheduler, "base_lrs"):
                scheduler.base_lrs = [g.get("initial_lr", g["lr"]) for g in scheduler.optimizer.param_groups]


def resolve_last_checkpoint(trainer: pl.Trainer, extra_candidates: Iterable[Path] = ()) -> str | None:
    """The file ``ckpt_path="last"`` means, as Lightning resolves it: the newest ``last*.ckpt`` in the
    folders of the trainer's checkpoint callbacks (and ``extra_candidates``); None if there is none or a
    callback's folder is only known once training starts (Lightning then resolves it itself)."""
    candidates = {str(p) for p in extra_candidates}
    for callback in trainer.checkpoint_callbacks:
        if not isinstance(callback, ModelCheckpoint) or callback.dirpath is None:
            return None
        candidates |= callback._find_last_checkpoints(trainer)
    existing = [p for p in candidates if os.path.isfile(p)]
    return max(existing, key=os.path.getmtime) if existing else None


def is_named_checkpoint(ckpt_path: Any) -> bool:
    """True for no checkpoint and for the names Lightning resolves itself ("last", "best", a registry)."""
    return (
        ckpt_path is None
        or str(ckpt_path) in ("last", "best", "hpc")
        or str(ckpt_path).startswith("registry:")
    )


def class_path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def load_for_resume(path: str | Path, weights_only: bool | None = None) -> dict[str, Any]:
    """Read a checkpoint given to ``--ckpt_path``, or raise a two-line error saying what is wrong with it."""
    path = Path(path)
    if not path.is_file():
        raise LeydenConfigError(
            f"checkpoint {str(path)!r} not found",
            "pass the path of a .ckpt file, or --ckpt_path last to resume from checkpoints/last.ckpt",
        )
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=weights_only is not False, mmap=True)
    except pickle.UnpicklingError as err:
        if "Weights only load failed" in str(err):
            raise LeydenConfigError(
                f"{path} holds Python objects that torch's safe loading refuses",
                "if you trust the file, add --weights_only false",
            ) from None
        raise _unreadable(path, err) from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as err:
        raise _unreadable(path, err) from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise LeydenConfigError(
            f"{path} is not a Lightning checkpoint (no 'state_dict' entry; a plain state_dict or weights file?)",
            "resume from a .ckpt file written by `leyden fit` (checkpoints/*.ckpt)",
        )
    return checkpoint


def _unreadable(path: Path, err: BaseException) -> LeydenConfigError:
    reason = (str(err).strip().splitlines() or [type(err).__name__])[0][:120]
    return LeydenConfigError(
        f"{path} cannot be read as a checkpoint ({reason}): it is truncated or corrupt",
        "resume from another checkpoint (checkpoints/last.ckpt is written atomically)",
    )


def checkpoint_class_path(checkpoint: Mapping[str, Any]) -> str | None:
    """The class a checkpoint was trained with, as the CLI recorded it (None for Python-API checkpoints)."""
    hparams = checkpoint.get("hyper_parameters") or {}
    return hparams.get("_class_path") if isinstance(hparams, Mapping) else None


def check_same_class(checkpoint: Mapping[str, Any], model: pl.LightningModule, path: str | Path) -> None:
    """Refuse a checkpoint of another LightningModule class than the configured one."""
    theirs, ours = checkpoint_class_path(checkpoint), class_path(type(model))
    if theirs is None or theirs == ours or theirs.rpartition(".")[2] == type(model).__qualname__:
        return  # unknown, or the same class (possibly moved to another module)
    short = theirs.rpartition(".")[2]
    raise LeydenConfigError(
        f"{path} is a {short} checkpoint ({theirs}), but the configured model is {type(model).__qualname__}",
        f"resume with the config it was trained with (--model {short} ...), or drop --ckpt_path to start anew",
    )


def _plain(value: Any) -> Any:
    """Values as YAML gives them (tuples as lists), so a config and a checkpoint compare equal."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def differing_hparams(checkpoint: Mapping[str, Any], model: pl.LightningModule) -> list[str]:
    """``name: configured (checkpoint: value)`` for each hyperparameter the config changes."""
    theirs = checkpoint.get("hyper_parameters") or {}
    ours = dict(getattr(model, "hparams", {}) or {})
    out = []
    for key in sorted(set(theirs) | set(ours)):
        if key.startswith("_") or _plain(theirs.get(key)) == _plain(ours.get(key)):
            continue
        out.append(f"{key}: {ours.get(key)!r} (checkpoint: {theirs.get(key)!r})")
    return out


def is_load_mismatch(err: Exception) -> bool:
    """Whether ``err`` is torch refusing a checkpoint's model or optimizer state for the configured model."""
    text = str(err)
    return "Error(s) in loading state_dict" in text or text.startswith("loaded state dict")


def weights_do_not_fit(
    path: str | Path, model: pl.LightningModule, err: Exception, differing: list[str]
) -> LeydenConfigError:
    """A two-line error for a checkpoint whose tensors do not match the configured model's."""
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    detail = next((ln for ln in lines[1:] if ln), lines[0] if lines else type(err).__name__)[:160]
    cause = f"hyperparameters that differ: {', '.join(differing[:4])}" if differing else "a different model"
    return LeydenConfigError(
        f"the weights in {path} do not fit the configured {type(model).__qualname__} ({detail})",
        f"resume with the settings the checkpoint was trained with ({cause})",
    )
