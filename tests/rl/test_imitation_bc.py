"""Behaviour cloning and DAgger: they learn scripted tasks, DAgger aggregates, runs resume, DDP agrees."""

from pathlib import Path

import numpy as np
import pytest
import torch

from leyden_core.errors import LeydenConfigError
from leyden_core.testing import quiet_trainer, run_ddp_script
from leyden_rl.imitation.bc import BehaviourCloning
from leyden_rl.imitation.dagger import DAgger
from leyden_rl.imitation.demonstrations import DemonstrationDataModule, record_demonstrations
from leyden_rl.imitation.experts import cartpole_expert, make_expert
from leyden_rl.imitation.particle_reaching import ENV_ID

HERE = Path(__file__).parent
PARTICLE = f"leyden_rl.imitation.particle_reaching:{ENV_ID}"


def _trainer(tmp_path, **kw):
    return quiet_trainer(default_root_dir=tmp_path, enable_checkpointing=False, **kw)


def test_bc_learns_the_scripted_cartpole_expert(tmp_path):
    torch.manual_seed(0)
    path = record_demonstrations(cartpole_expert, "CartPole-v1", 6, tmp_path / "d.npz")
    dm = DemonstrationDataModule(str(path), batch_size=64, val_fraction=1 / 3)
    model = BehaviourCloning(learning_rate=3e-3, eval_episodes=3)
    trainer = _trainer(tmp_path, max_epochs=8)
    trainer.fit(model, dm)
    # the expert chatters around its decision boundary, so accuracy stays below 1; returns tell
    assert trainer.callback_metrics["val/accuracy"] > 0.7
    assert trainer.callback_metrics["val/episode_return"] > 400  # the expert scores 500, random ~20


@pytest.mark.parametrize("loss", ["mse", "gaussian_nll"])
def test_bc_continuous_actions(tmp_path, loss):
    path = record_demonstrations(
        make_expert("particle_reaching"), PARTICLE, 4, tmp_path / "p.npz", env_kwargs={"num_landmarks": 2}
    )
    dm = DemonstrationDataModule(str(path), batch_size=32)
    model = BehaviourCloning(env_id=PARTICLE, env_kwargs={"num_landmarks": 2}, loss=loss, eval_episodes=1)
    first = model.bc_loss(*next(iter(dm.train_dataloader()))).item()
    trainer = _trainer(tmp_path, max_epochs=3)
    trainer.fit(model, dm)
    assert (
        torch.isfinite(trainer.callback_metrics["val/loss"])
        and trainer.callback_metrics["train/loss"] < first
    )
    assert model.log_std.requires_grad == (loss == "gaussian_nll")
    action = model.act(torch.full((1, 58), 50.0))
    assert action.shape == (1, 2) and (action.abs() <= 1).all()


def test_bc_config_errors(tmp_path):
    with pytest.raises(LeydenConfigError, match="does not fit"):
        BehaviourCloning(env_id="CartPole-v1", loss="mse")
    with pytest.raises(LeydenConfigError, match="does not fit"):
        BehaviourCloning(env_id="Pendulum-v1", loss="cross_entropy")
    path = record_demonstrations(cartpole_expert, "CartPole-v1", 2, tmp_path / "d.npz")
    with pytest.raises(LeydenConfigError, match="recorded in 'CartPole-v1'"):
        _trainer(tmp_path, max_epochs=1).fit(
            BehaviourCloning(env_id="Acrobot-v1"), DemonstrationDataModule(str(path))
        )


def test_dagger_aggregates_expert_labels_across_rounds(tmp_path):
    model = DAgger(rounds=3, episodes_per_round=1, updates_per_round=20, beta0=1.0, beta_decay=0.5, seed=1)
    sizes = []

    class Sizes(__import__("lightning.pytorch").pytorch.Callback):
        def on_train_epoch_end(self, trainer, pl_module):
            sizes.append(len(pl_module.data_obs))

    _trainer(tmp_path, max_epochs=-1, callbacks=[Sizes()]).fit(model)
    assert model.rounds_done == 3 and [model.beta(i) for i in range(3)] == [1.0, 0.5, 0.25]
    assert sizes[0] == 500 and sizes[0] < sizes[1] < sizes[2] == len(
        model.data_actions
    )  # round 0 = expert only
    expected = [cartpole_expert(o, None) for o in model.data_obs.numpy()]
    np.testing.assert_array_equal(model.data_actions.numpy(), expected)  # every row has the expert's label


def test_dagger_resumes_from_its_checkpoint(tmp_path):
    kw = dict(episodes_per_round=1, updates_per_round=10, seed=2)
    model = DAgger(rounds=2, **kw)
    trainer = _trainer(tmp_path, max_epochs=-1)
    trainer.fit(model)
    trainer.save_checkpoint(tmp_path / "last.ckpt")
    resumed = DAgger(rounds=3, **kw)
    _trainer(tmp_path, max_epochs=-1).fit(resumed, ckpt_path=tmp_path / "last.ckpt")
    assert resumed.rounds_done == 3 and resumed.round_returns[:2] == model.round_returns
    assert torch.equal(resumed.data_obs[: len(model.data_obs)], model.data_obs)
    assert len(resumed.data_obs) > len(model.data_obs)


def test_ddp_bc_dagger_one_shot_weights_identical_across_ranks(tmp_path):
    run_ddp_script(HERE / "imitation_ddp_script.py", str(tmp_path), timeout=240)
    for name in ("bc", "dagger", "one_shot"):
        r0, r1 = (torch.load(tmp_path / f"{name}_rank{r}.pt") for r in (0, 1))
        for a, b in zip(r0["params"], r1["params"]):
            assert torch.equal(a, b), f"{name}: gradients are averaged, so weights must match across ranks"
        assert r0["changed"] and r1["changed"]
    d0, d1 = (torch.load(tmp_path / f"dagger_rank{r}.pt") for r in (0, 1))
    assert torch.equal(d0["data_obs"], d1["data_obs"]), "every rank holds the same aggregate"
    assert len(d0["data_obs"]) == 2 * 500 + d0["round1_rows"]  # round 0: one expert episode per rank
