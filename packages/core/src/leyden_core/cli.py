"""The ``leyden`` command.

    leyden fit --config examples/selfsup/simclr_digits.yaml
    leyden fit --model ImageClassifier --data DigitsDataModule --trainer.max_epochs 3
    leyden plugins                               # installed plugins, their models and datamodules
    leyden export CHECKPOINT --out trunk.pt      # a trained trunk as a plain timm state_dict

``plugins`` and ``export`` answer without importing Lightning; the training subcommands go to
:mod:`leyden_core.lightning_cli`.
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


def _run_lightning_cli(args: list[str] | None) -> None:
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    from leyden_core.cli_errors import short_parser_error
    from leyden_core.lightning_cli import LeydenCLI
    from leyden_core.wandb_logging import choose_wandb_mode

    choose_wandb_mode()
    # inside main(), so DDP child processes (which re-run this command) load the same plugins
    _import_everything_installed()
    try:
        LeydenCLI(args=args)
    except SIGTERMException:
        sys.stderr.write("leyden: stopped by SIGTERM; resume with --ckpt_path last (checkpoints/last.ckpt)\n")
        sys.exit(143)
    except ValueError as err:  # jsonargparse wraps errors raised while instantiating classes
        short = short_parser_error(str(err), None)
        if "see `leyden fit --help`" in short:
            raise
        sys.stderr.write(short + "\n")
        sys.exit(2)


def main(args: list[str] | None = None) -> None:
    argv = sys.argv[1:] if args is None else list(args)
    try:
        if argv[:1] == ["plugins"]:
            return list_plugins()
        if argv[:1] == ["export"]:
            from leyden_core.export import export_main

            return export_main(argv[1:])
        _run_lightning_cli(args)
    except LeydenConfigError as err:
        sys.stderr.write(f"leyden: error: {err.problem}\n  fix: {err.fix}\n")
        sys.exit(2)


if __name__ == "__main__":
    main()
