"""Lightning's CLI as Leyden configures it (``leyden fit|validate|test|predict``).

Defaults an expert expects without configuring them: a W&B logger (offline unless credentials
exist), a Rich progress bar, ``last.ckpt`` kept up to date and written on SIGTERM/Ctrl-C so
``--ckpt_path last`` resumes, throughput logging, and the resolved config in the W&B run.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint, ProgressBar
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback
from lightning.pytorch.utilities.rank_zero import rank_zero_info, rank_zero_only

from leyden_core import checkpointing
from leyden_core.callbacks import LastCheckpointOnException, RNGStateCheckpoint, ThroughputMonitor
from leyden_core.checkpointing import LeydenCheckpoint
from leyden_core.cli_errors import short_parser_error
from leyden_core.divergence import StopOnDivergence
from leyden_core.errors import LeydenConfigError
from leyden_core.progress import LeydenProgressBar
from leyden_core.threads import apply_thread_policy
from leyden_core.wandb_logging import announce_offline_run, wandb_loggers

CHECKPOINT_SUBDIR = "checkpoints"


class LeydenArgumentParser(LightningArgumentParser):
    """Parser whose errors are a few lines with the closest valid name, not a usage wall."""

    def error(self, message: str, ex: Exception | None = None):  # type: ignore[override]
        if not self.exit_on_error:
            return super().error(message, ex)
        sys.stderr.write(short_parser_error(message, self) + "\n")
        sys.exit(2)


class ConfigToWandb(SaveConfigCallback):
    """Save ``config.yaml`` (overwriting: re-running in the same folder works) and put the resolved
    config into the W&B run, so a run's page says exactly how it was made."""

    def save_config(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        config = self.config.clone().as_dict()
        config.pop("config", None)
        for logger in wandb_loggers(trainer):
            logger.experiment.config.update(config, allow_val_change=True)


class LeydenCLI(LightningCLI):
    def __init__(self, args: list[str] | None = None, run: bool = True) -> None:
        super().__init__(
            model_class=None,  # any LightningModule, by class path or short name
            datamodule_class=None,  # optional: RL methods make their own data
            parser_kwargs={"allow_abbrev": False},
            save_config_callback=ConfigToWandb,
            save_config_kwargs={"overwrite": True},
            seed_everything_default=0,  # Lightning's default (True) seeds 0 as well, with a warning
            parser_class=LeydenArgumentParser,
            trainer_defaults={
                "logger": {
                    "class_path": "lightning.pytorch.loggers.WandbLogger",
                    "init_args": {"project": "leyden", "save_dir": "."},
                },
            },
            args=args,
            run=run,
            auto_configure_optimizers=False,
        )

    def before_instantiate_classes(self) -> None:
        """Keep a run's W&B files and ``config.yaml`` under ``trainer.default_root_dir`` when one is set
        and the default WandbLogger's ``save_dir`` was not chosen explicitly."""
        trainer = self._get(self.config, "trainer")
        root, logger = trainer.get("default_root_dir"), trainer.get("logger")
        init_args = getattr(logger, "init_args", None)
        if root and init_args is not None and str(logger.get("class_path", "")).endswith("WandbLogger"):
            if init_args.get("save_dir") in (None, "."):
                init_args.save_dir = str(root)

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        """Lightning's, plus Leyden's callbacks: throughput, RNG state, a Rich progress bar and checkpoints in
        ``<default_root_dir>/checkpoints`` that survive a new W&B run id, so ``--ckpt_path last`` finds the
        previous run's ``last.ckpt``. They are added beside a config's ``trainer.callbacks`` (a list there would
        otherwise replace defaults silently); one of the same type in the config takes its place."""
        trainer_config = {**self._get(self.config_init, "trainer", default={}), **kwargs}
        extra_callbacks = [
            self._get(self.config_init, c) for c in self._parser(self.subcommand).callback_keys
        ]
        root = Path(trainer_config.get("default_root_dir") or os.getcwd())
        configured = trainer_config.get("callbacks") or []
        extra_callbacks.append(LastCheckpointOnException(root / CHECKPOINT_SUBDIR))
        for default in (ThroughputMonitor, RNGStateCheckpoint, StopOnDivergence):
            if not any(isinstance(cb, default) for cb in configured):
                extra_callbacks.append(default())
        wants_progress = trainer_config.get("enable_progress_bar") is not False
        if wants_progress and not any(isinstance(cb, ProgressBar) for cb in configured):
            extra_callbacks.append(LeydenProgressBar(leave=True))
        for callback in configured:  # a configured LeydenCheckpoint writes where `--ckpt_path last` looks
            if isinstance(callback, LeydenCheckpoint) and callback.dirpath is None:
                callback.dirpath = str(root / CHECKPOINT_SUBDIR)
        wants_checkpoints = trainer_config.get("enable_checkpointing") is not False
        if wants_checkpoints and not any(isinstance(cb, ModelCheckpoint) for cb in configured):
            extra_callbacks.append(LeydenCheckpoint(dirpath=root / CHECKPOINT_SUBDIR))
        trainer = self._instantiate_trainer(trainer_config, extra_callbacks)
        threads = apply_thread_policy(  # before DDP launches: its processes inherit the choice
            getattr(trainer.strategy, "num_processes", 1), getattr(self.model, "preferred_num_threads", None)
        )
        rank_zero_info(threads.describe())
        checkpointing.use_atomic_checkpoint_io(trainer)
        for logger in wandb_loggers(trainer):
            announce_offline_run(logger)
        return trainer

    def _parse_ckpt_path(self) -> None:
        """Lightning's CLI re-instantiates the model from an explicit checkpoint's hyperparameters; Leyden's
        rule is that the config wins for ``last`` and a path alike (:mod:`leyden_core.checkpointing`)."""

    def fit(self, model: LightningModule, ckpt_path: str | Path | None = None, **kwargs: Any) -> None:
        """``trainer.fit`` with ``--ckpt_path`` checked first: readable, a Lightning checkpoint, the
        configured model's class; ``last`` resolved to the file it means. Weights that do not fit the
        configured model become a two-line error instead of a ``load_state_dict`` traceback."""
        return self._run_checked("fit", model, ckpt_path, **kwargs)

    def validate(self, model: LightningModule, ckpt_path: str | Path | None = None, **kwargs: Any) -> Any:
        return self._run_checked("validate", model, ckpt_path, **kwargs)

    def test(self, model: LightningModule, ckpt_path: str | Path | None = None, **kwargs: Any) -> Any:
        return self._run_checked("test", model, ckpt_path, **kwargs)

    def predict(self, model: LightningModule, ckpt_path: str | Path | None = None, **kwargs: Any) -> Any:
        return self._run_checked("predict", model, ckpt_path, **kwargs)

    def _run_checked(self, fn: str, model: LightningModule, ckpt_path: Any, **kwargs: Any) -> Any:
        run = getattr(self.trainer, fn)
        if ckpt_path == "last" and fn == "fit":
            on_exception = [
                cb.path for cb in self.trainer.callbacks if isinstance(cb, LastCheckpointOnException)
            ]
            ckpt_path = checkpointing.resolve_last_checkpoint(self.trainer, on_exception) or ckpt_path
        if checkpointing.is_named_checkpoint(ckpt_path):  # None, "last", "best", ...: Lightning resolves it
            return run(model, ckpt_path=ckpt_path, **kwargs)
        checkpoint = checkpointing.load_for_resume(ckpt_path, kwargs.get("weights_only"))
        checkpointing.check_same_class(checkpoint, model, ckpt_path)
        differing = checkpointing.differing_hparams(checkpoint, model)
        del checkpoint
        if differing:
            notice(f"resuming from {ckpt_path} with the configured values: {'; '.join(differing)}")
            self.trainer.callbacks.append(checkpointing.ApplyConfiguredOptimizerSettings())
        try:
            return run(model, ckpt_path=ckpt_path, **kwargs)
        except (RuntimeError, ValueError) as err:
            if not checkpointing.is_load_mismatch(err):
                raise
            raise checkpointing.weights_do_not_fit(ckpt_path, model, err, differing) from None

    def after_fit(self) -> None:
        check_trained_batches(self.trainer)
        print_final_metrics(self.trainer)
        print_checkpoint_location(self.trainer)

    def after_validate(self) -> None:
        print_final_metrics(self.trainer)

    def after_test(self) -> None:
        print_final_metrics(self.trainer)


def check_trained_batches(trainer: Trainer) -> None:
    """A DataModule whose training loader yields nothing makes Lightning skip training and return as if
    done (``Trainer.fit stopped: No training batches``). Leyden's own DataModules refuse that at setup; this
    catches any other DataModule (a user's), unless the user asked for it with ``limit_train_batches: 0``."""
    fit_loop = trainer.fit_loop
    if getattr(fit_loop, "max_batches", None) == 0 and trainer.limit_train_batches != 0:
        raise LeydenConfigError(
            "the training DataLoader yielded no batches, so nothing was trained "
            "(an empty dataset, or fewer samples per process than batch_size with drop_last)",
            "check the data path and the DataModule's batch_size/drop_last, or the dataset's length",
        )


@rank_zero_only
def print_checkpoint_location(trainer: Trainer) -> None:
    """Where the run's checkpoints are, and how to continue it."""
    checkpoint = trainer.checkpoint_callback
    last = getattr(checkpoint, "last_model_path", "") or getattr(checkpoint, "best_model_path", "")
    if last:
        print(f"checkpoints: {Path(last).parent}  (continue with --ckpt_path last)", flush=True)


@rank_zero_only
def notice(message: str) -> None:
    """One line on stderr that no logging configuration can hide."""
    print(f"leyden: {message}", file=sys.stderr, flush=True)


@rank_zero_only
def print_final_metrics(trainer: Trainer) -> None:
    """One line a user can read (and a script can grep) at the end of a run."""
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
    shown = {k: v for k, v in metrics.items() if not k.startswith("throughput/")}
    text = "  ".join(f"{k}={v:.4f}" for k, v in sorted(shown.items()))
    print(f"final metrics (step {trainer.global_step}): {text or 'none logged'}", flush=True)
