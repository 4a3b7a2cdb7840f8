"""Every registered imitation method: a tiny run through ``leyden fit`` with its example config, no NaN,
and a checkpoint that restores the same policy."""

from pathlib import Path

import pytest
import torch

from leyden_core.cli import main
from leyden_core.plugins import import_object
from leyden_rl.imitation.demonstrations import record_demonstrations
from leyden_rl.imitation.experts import cartpole_expert
from leyden_rl.plugin import plugin

EXAMPLES = Path(__file__).parents[2] / "examples" / "rl"
COMMON = ["--trainer.enable_progress_bar=false", "--trainer.logger=false", "--trainer.accelerator=cpu"]
TINY = {
    "BehaviourCloning": ("bc_cartpole.yaml", ["--trainer.max_epochs=2", "--model.init_args.eval_episodes=1"]),
    "DAgger": ("dagger_cartpole.yaml", ["--model.init_args.rounds=2", "--model.init_args.updates_per_round=5",
                                        "--model.init_args.eval_episodes=1"]),
    "OneShotImitation": ("one_shot_particle.yaml", ["--trainer.max_epochs=1", "--data.init_args.num_train_tasks=40",
                                                    "--data.init_args.num_val_tasks=10", "--data.init_args.landmarks=[2,3]",
                                                    "--model.init_args.width=16"]),
    "OneShotBlockStacking": ("one_shot_blocks.yaml", ["--trainer.max_epochs=1", "--data.init_args.num_blocks=3",
                                                      "--data.init_args.stage_counts=[1]", "--data.init_args.num_train_pairs=4",
                                                      "--data.init_args.num_val_pairs=2", "--data.init_args.batch_size=2",
                                                      "--model.init_args.width=16", "--model.init_args.val_episodes=1"]),
}  # fmt: skip
MODELS = {p.rsplit(".", 1)[1]: p for p in plugin.models if ".imitation." in p}


def test_every_imitation_method_has_an_example():
    assert set(MODELS) == set(TINY)
    assert {p.rsplit(".", 1)[1] for p in plugin.datamodules} >= {
        "DemonstrationDataModule",
        "OneShotParticleDataModule",
    }


@pytest.mark.parametrize("name", sorted(TINY))
def test_fit_example_then_checkpoint_round_trip(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the BC example reads demos/cartpole.npz relative to the working directory
    record_demonstrations(cartpole_expert, "CartPole-v1", 3, tmp_path / "demos" / "cartpole.npz")
    config, overrides = TINY[name]
    main(
        [
            "fit",
            "--config",
            str(EXAMPLES / config),
            f"--trainer.default_root_dir={tmp_path}",
            *COMMON,
            *overrides,
        ]
    )
    ckpt = tmp_path / "checkpoints" / "last.ckpt"
    assert ckpt.is_file()
    state = torch.load(ckpt, weights_only=True)["state_dict"]
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())
    cls = import_object(MODELS[name])
    model = cls.load_from_checkpoint(ckpt, weights_only=True)
    restored = model.state_dict()
    assert all(torch.equal(restored[k], v) for k, v in state.items())
