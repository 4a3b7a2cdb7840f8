"""``leyden export`` on an RL checkpoint (no trunk): the policy network, or a precise list of choices."""

from __future__ import annotations

import pytest
import torch

from leyden_core.errors import LeydenConfigError
from leyden_core.export import export_main
from leyden_core.testing import quiet_trainer
from leyden_rl.ppo import PPO
from leyden_rl.sac import SAC


def _checkpoint(model, tmp_path):
    trainer = quiet_trainer(max_epochs=-1, default_root_dir=tmp_path, enable_checkpointing=False)
    trainer.fit(model)
    path = tmp_path / "model.ckpt"
    trainer.save_checkpoint(path)
    return path


def test_ppo_exports_its_policy_with_the_line_that_loads_it(tmp_path, capsys) -> None:
    model = PPO(
        env_id="CartPole-v1", num_envs=2, num_steps=8, batch_size=8, update_epochs=1, total_env_steps=32
    )
    out = tmp_path / "policy.pt"
    export_main([str(_checkpoint(model, tmp_path)), "--out", str(out)])
    printed = capsys.readouterr().out
    assert "of module policy" in printed and "model.policy.load_state_dict(torch.load(" in printed
    fresh = PPO(env_id="CartPole-v1", seed=123)
    fresh.policy.load_state_dict(torch.load(out))  # strict: every key matches
    for name, tensor in model.policy.state_dict().items():
        torch.testing.assert_close(fresh.policy.state_dict()[name], tensor)


def test_sac_names_its_modules_and_exports_the_chosen_ones(tmp_path, capsys) -> None:
    model = SAC(env_id="Pendulum-v1", total_env_steps=8, learning_starts=4, batch_size=4)
    checkpoint = _checkpoint(model, tmp_path)
    with pytest.raises(
        LeydenConfigError, match=r"holds no trunk; its modules are .*actor \(\d+ tensors\)"
    ) as err:
        export_main([str(checkpoint), "--out", str(tmp_path / "x.pt")])
    assert "--module" in err.value.fix
    out = tmp_path / "actor.pt"
    export_main([str(checkpoint), "--out", str(out), "--module", "actor"])
    model.actor.load_state_dict(torch.load(out))  # one module: its own keys, strictly
    both = tmp_path / "actor_critic.pt"
    export_main([str(checkpoint), "--out", str(both), "--module", "actor", "--module", "critic"])
    assert {key.partition(".")[0] for key in torch.load(both)} == {"actor", "critic"}
    assert "strict=False" in capsys.readouterr().out
