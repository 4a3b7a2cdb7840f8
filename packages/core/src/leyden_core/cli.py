"""The ``leyden`` command.

    leyden fit --config examples/selfsup/simclr_digits.yaml
    leyden fit --model ImageClassifier --data DigitsDataModule --trainer.max_epochs 3
    leyden fit --config ppo_cartpole             # an example config shipped inside a plugin, by name
    leyden plugins                               # installed plugins, their models and datamodules
    leyden examples                              # the example configs the installed plugins ship
    leyden export CHECKPOINT --out trunk.pt      # a trained trunk (or an RL policy) as a plain state_dict

``--help``, ``plugins``, ``examples`` and ``export`` answer without importing Lightning; the
training subcommands go to :mod:`leyden_core.lightning_cli`.
"""

from __future__ import annotations

import sys

from leyden_core.errors import LeydenConfigError
from leyden_core.plugins import CORE_PLUGIN, import_object, load_plugins


def _import_everything_installed() -> None:
    """Import every model and datamodule, so short class names (``--model SimCLR``) resolve."""
    for path in (*CORE_PLUGIN.models, *CORE_PLUGIN.datamodules):
        import_object(path)
    for loaded in load_plugins():
        for path in (*loaded.plugin.models, *loaded.plugin.datamodules):
            import_object(path)


def list_plugins() -> None:
    """``leyden plugins``: what is installed, with versions and what each provides."""
    import leyden_core

    print(f"leyden-core {leyden_core.__version__}")
    _print_provides(CORE_PLUGIN.models, CORE_PLUGIN.datamodules)
    plugins = load_plugins()
    if not plugins:
        print("no plugins installed (pip install leyden-selfsup, leyden-rl or leyden-sim)")
    for loaded in plugins:
        print(f"{loaded.distribution} {loaded.version}  (plugin {loaded.plugin.name!r})")
        _print_provides(loaded.plugin.models, loaded.plugin.datamodules)


def _print_provides(models: tuple[str, ...], datamodules: tuple[str, ...]) -> None:
    def short(paths: tuple[str, ...]) -> str:
        return ", ".join(p.rpartition(".")[2] for p in paths) or "-"

    print(f"  models:      {short(models)}")
    print(f"  datamodules: {short(datamodules)}")


SUBCOMMANDS = {
    "fit": "train a model: leyden fit --config ppo_cartpole (a file or a shipped example's name)",
    "validate": "run the validation loop once: leyden validate --config ... --ckpt_path last",
    "test": "run the test loop once: leyden test --config ... --ckpt_path last",
    "predict": "run prediction: leyden predict --config ... --ckpt_path last",
    "plugins": "list the installed plugins and the models and datamodules each provides",
    "examples": "list the example configs shipped with the installed plugins, one line each",
    "export": "write a checkpoint's trained trunk (or an RL policy) as a plain state_dict",
}


def print_help() -> None:
    """``leyden`` / ``leyden --help``: every subcommand with one line (Lightning's own help lists four)."""
    print(f"usage: leyden {{{','.join(SUBCOMMANDS)}}} ...\n")
    print("Train and use Leyden models with Lightning's CLI; plugins add models, data and examples.\n")
    for name, line in SUBCOMMANDS.items():
        print(f"  {name:9} {line}")
    print("\n`leyden SUBCOMMAND --help` shows a subcommand's options (fit: every model and trainer option).")


def _run_lightning_cli(args: list[str] | None) -> None:
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    from leyden_core.cli_errors import short_parser_error
    from leyden_core.console import quiet_known_noise
    from leyden_core.lightning_cli import LeydenCLI
    from leyden_core.wandb_logging import choose_wandb_mode

    choose_wandb_mode()
    quiet_known_noise()
    # inside main(), so DDP child processes (which re-run this command) load the same plugins
    _import_everything_installed()
    try:
        LeydenCLI(args=args)
    except SIGTERMException:
        sys.stderr.write("leyden: stopped by SIGTERM; resume with --ckpt_path last (checkpoints/last.ckpt)\n")
        sys.exit(143)
    except LeydenConfigError:  # raised while running (a bad checkpoint, a diverged run): main() prints it
        raise
    except ValueError as err:  # jsonargparse wraps errors raised while instantiating classes
        short = short_parser_error(str(err), None)
        if "see `leyden fit --help`" in short:
            raise
        sys.stderr.write(short + "\n")
        sys.exit(2)


def class_help_args(argv: list[str]) -> list[str]:
    """``fit --model NAME --help`` → ``fit --model.help NAME``: that class's options, not the whole
    parser's (Trainer, every callback, ...). Likewise ``--data NAME --help``; the model wins if both."""
    if not {"-h", "--help"} & set(argv):
        return argv
    for flag in ("--model", "--data"):
        for i, arg in enumerate(argv):
            if arg.startswith(flag + "="):
                return [argv[0], f"{flag}.help", arg.partition("=")[2]]
            if arg == flag and i + 1 < len(argv) and not argv[i + 1].startswith("-"):
                return [argv[0], f"{flag}.help", argv[i + 1]]
    return argv


def main(args: list[str] | None = None) -> None:
    argv = sys.argv[1:] if args is None else list(args)
    try:
        if argv[:1] in ([], ["-h"], ["--help"]):
            return print_help()
        if argv[:1] == ["plugins"]:
            return list_plugins()
        if argv[:1] == ["examples"]:
            from leyden_core.examples import list_examples

            return list_examples()
        if argv[:1] == ["export"]:
            from leyden_core.export import export_main

            return export_main(argv[1:])
        from leyden_core.examples import resolve_config_args

        resolved = class_help_args(resolve_config_args(argv))
        if args is None:  # rewrite the command line itself: DDP children re-run it, and Lightning
            sys.argv[1:] = resolved  # warns when given args beside a different sys.argv
        _run_lightning_cli(None if args is None else resolved)
    except LeydenConfigError as err:
        sys.stderr.write(f"leyden: error: {err.problem}\n  fix: {err.fix}\n")
        sys.exit(2)


if __name__ == "__main__":
    main()
