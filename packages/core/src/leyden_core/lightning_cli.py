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
from lightning.pytorch.callbacks import ModelCheckpoint, ProgressBar, RichProgressBar
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback
from lightning.pytorch.utilities.rank_zero import rank_zero_only

from leyden_core.callbacks import LastCheckpointOnException, RNGStateCheckpoint, ThroughputMonitor
from leyden_core.cli_errors import short_parser_error
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
        for default in (ThroughputMonitor, RNGStateCheckpoint):
            if not any(isinstance(cb, default) for cb in configured):
                extra_callbacks.append(default())
        wants_progress = trainer_config.get("enable_progress_bar") is not False
        if wants_progress and not any(isinstance(cb, ProgressBar) for cb in configured):
            extra_callbacks.append(RichProgressBar(leave=True))
        wants_checkpoints = trainer_config.get("enable_checkpointing") is not False
        if wants_checkpoints and not any(isinstance(cb, ModelCheckpoint) for cb in configured):
            extra_callbacks.append(ModelCheckpoint(dirpath=root / CHECKPOINT_SUBDIR, save_last=True))
        trainer = self._instantiate_trainer(trainer_config, extra_callbacks)
        for logger in wandb_loggers(trainer):
            announce_offline_run(logger)
        return trainer

    def after_fit(self) -> None:
        print_final_metrics(self.trainer)

    def after_validate(self) -> None:
        print_final_metrics(self.trainer)

    def after_test(self) -> None:
        print_final_metrics(self.trainer)


@rank_zero_only
def print_final_metrics(trainer: Trainer) -> None:
    """One line a user can read (and a script can grep) at the end of a run."""
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
    shown = {k: v for k, v in metrics.items() if not k.startswith("throughput/")}
    text = "  ".join(f"{k}={v:.4f}" for k, v in sorted(shown.items()))
    print(f"final metrics (step {trainer.global_step}): {text or 'none logged'}", flush=True)
