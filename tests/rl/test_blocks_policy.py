"""The block-stacking policy: permutation-aware attention, temporal dropout, padding, training and DAgger."""

import numpy as np
import pytest
import torch

pytest.importorskip("mujoco")

from leyden_core.errors import LeydenConfigError  # noqa: E402
from leyden_core.testing import quiet_trainer  # noqa: E402
from leyden_rl.imitation.blocks.data import run_episodes  # noqa: E402
from leyden_rl.imitation.blocks.env import BlockStackingEnv  # noqa: E402
from leyden_rl.imitation.blocks.one_shot import OneShotBlocksDataModule, OneShotBlockStacking, evaluate  # noqa: E402
from leyden_rl.imitation.blocks.policy import (  # noqa: E402
    BlockStackingPolicy,
    NeighbourhoodAttention,
    temporal_dropout,
)


def test_neighbourhood_attention_is_permutation_equivariant():
    torch.manual_seed(0)
    layer = NeighbourhoodAttention(16)
    tokens, positions = torch.randn(2, 5, 16), torch.randn(2, 5, 3)
    perm = torch.randperm(5)
    out = layer(tokens, positions)
    torch.testing.assert_close(layer(tokens[:, perm], positions[:, perm]), out[:, perm])


def test_temporal_dropout_keeps_a_subset_and_the_last_step():
    mask = torch.ones(64, 30, dtype=torch.bool)
    mask[:, 20:] = False
    kept = temporal_dropout(mask, 0.7, torch.Generator().manual_seed(0))
    assert not (kept & ~mask).any() and kept[:, 19].all()
    assert 0.2 < kept[:, :19].float().mean() < 0.4
    assert torch.equal(temporal_dropout(mask, 0.0), mask)


def test_padding_of_the_demonstration_changes_nothing():
    torch.manual_seed(0)
    policy = BlockStackingPolicy("demo", width=16).eval()
    obs, demo_obs, demo_actions = torch.randn(2, 3, 32), torch.randn(2, 6, 32), torch.randn(2, 6, 4)
    mask = torch.ones(2, 6, dtype=torch.bool)
    out = policy(obs, policy.encode_demo(demo_obs, demo_actions, mask))
    padded = (
        torch.cat([demo_obs, torch.randn(2, 4, 32)], 1),
        torch.cat([demo_actions, torch.randn(2, 4, 4)], 1),
    )
    padded_mask = torch.cat([mask, torch.zeros(2, 4, dtype=torch.bool)], 1)
    # time is step / last present step, so padding leaves it alone too
    torch.testing.assert_close(policy(obs, policy.encode_demo(*padded, padded_mask)), out)
    assert out.shape == (2, 3, 4)
    with pytest.raises(LeydenConfigError, match="conditioning"):
        BlockStackingPolicy("oracle")


def test_no_demo_baseline_has_no_demo_network():
    names = {n.split(".")[0] for n, _ in BlockStackingPolicy("none", 16).named_parameters()}
    assert "demo_encoder" not in names and "no_task" in names


def test_fit_with_dagger_adds_expert_labelled_episodes_and_validates():
    torch.manual_seed(0)
    data = OneShotBlocksDataModule(num_blocks=3, stage_counts=(1,), num_train_pairs=8, num_val_pairs=2,
                                   steps_per_task=8, batch_size=4, dagger_episodes=2)  # fmt: skip
    model = OneShotBlockStacking(width=16, learning_rate=3e-3, val_episodes=2)
    trainer = quiet_trainer(max_epochs=3, reload_dataloaders_every_n_epochs=1, enable_checkpointing=False)
    trainer.fit(model, data)
    assert data.dagger_rounds == 2 and len(data.train_demos) == 8 + 2 * 2
    relabelled = data.train_targets[-1]
    assert np.isin(relabelled.labels[:, 3], (-1.0, 1.0)).all() and relabelled.task in data.train_tasks
    assert 0.0 <= float(trainer.callback_metrics["val/success"]) <= 1.0
    assert np.isfinite(float(trainer.callback_metrics["val/loss"]))
    episodes = evaluate(model, data.held_out_tasks[:2], 3, seed=0)
    assert [e.task for e in episodes] == data.held_out_tasks[:2]


def test_learner_episodes_in_adr_physics_score_the_final_fraction_of_stages():
    """ADR over the block world's physics: a learner's episodes played through PhysicsRandomization report
    their final fraction of stages in place, and the moved range reaches the next episodes' physics."""
    adr_module = pytest.importorskip("leyden_sim.adr")
    physics = pytest.importorskip("leyden_sim.physics")
    adr = adr_module.ADR({"block_mass": adr_module.ADRParam(delta=0.25, limits=(0.5, 2.0))}, boundary_prob=1.0,
                         buffer_size=1, threshold_low=-2.0, threshold_high=-1.0)  # fmt: skip
    envs = [
        physics.PhysicsRandomization(BlockStackingEnv(3, horizon=5), adr=adr, score="final_reward")
        for _ in range(3)
    ]
    still = lambda obs, idx: np.zeros((len(idx), 4), np.float32)  # noqa: E731  (a learner that does nothing)
    episodes = run_episodes(envs, ["ab", "ba", "ca"], [0, 1, 2], still)
    assert [len(e.observations) for e in episodes] == [5, 5, 5] and not any(e.success for e in episodes)
    # every episode scored 0 ≥ threshold_high = −1; one that ended at a boundary another had just moved is stale
    assert adr.counts["widen"] >= 1 and adr.counts["widen"] + adr.counts["stale"] == 3
    assert adr.high["block_mass"] > 1.0 or adr.low["block_mass"] < 1.0
    masses = {round(float(env.unwrapped.block_mass), 4) for env in envs}
    run_episodes(envs, ["ab", "ba", "ca"], [3, 4, 5], still)
    assert {round(float(env.unwrapped.block_mass), 4) for env in envs} != masses


def test_env_kwargs_reach_every_env_of_the_data():
    data = OneShotBlocksDataModule(num_blocks=3, stage_counts=(1,), num_train_pairs=2, num_val_pairs=1,
                                   env_kwargs={"steps_per_stage": 50})  # fmt: skip
    data.setup("fit")
    assert {len(e.observations) for e in data.train_targets + data.train_demos} == {50 + 20}
    with pytest.raises(LeydenConfigError, match="no demonstration succeeded"):
        OneShotBlocksDataModule(num_blocks=3, stage_counts=(1,), num_train_pairs=2, num_val_pairs=1,
                                env_kwargs={"horizon": 5}).setup("fit")  # fmt: skip


def test_behaviour_cloning_fits_expert_pairs():
    data = OneShotBlocksDataModule(
        num_blocks=3, stage_counts=(1,), num_train_pairs=4, num_val_pairs=1, steps_per_task=32
    )
    data.setup("fit")
    batch = next(iter(torch.utils.data.DataLoader(data.train_dataloader().dataset, batch_size=4)))
    torch.manual_seed(0)
    model = OneShotBlockStacking(width=32, learning_rate=3e-3, temporal_dropout=0.0)
    optimizer = model.configure_optimizers()
    first = [v.item() for v in model.losses(batch)]
    for _ in range(60):
        optimizer.zero_grad()
        model.training_step(batch, 0).backward()
        optimizer.step()
    last = [v.item() for v in model.losses(batch)]
    assert last[0] < 0.5 * first[0] and last[1] < 0.5 * first[1]  # actions and pointers both fit


def test_imitation_video_logs_a_held_out_demonstration_beside_the_imitation(monkeypatch):
    from leyden_rl.imitation.blocks.video import ImitationVideo

    try:  # the video renders MuJoCo frames: needs OpenGL (MUJOCO_GL=egl on a headless machine)
        BlockStackingEnv(num_blocks=3, render_mode="rgb_array", render_size=(24, 32)).reset(seed=0)[0]
    except Exception as err:
        pytest.skip(f"MuJoCo cannot render here: {err}")
    logged = []
    monkeypatch.setattr(
        "leyden_rl.imitation.blocks.video.log_video",
        lambda trainer, key, video, fps: logged.append((key, video)),
    )
    data = OneShotBlocksDataModule(num_blocks=3, stage_counts=(1,), num_train_pairs=4, num_val_pairs=2,
                                   steps_per_task=4, batch_size=4)  # fmt: skip
    model = OneShotBlockStacking(width=16, val_episodes=0)
    video = ImitationVideo(every_n_epochs=2, size=(24, 32))
    trainer = quiet_trainer(max_epochs=2, enable_checkpointing=False, limit_val_batches=0, callbacks=[video])
    trainer.fit(model, data)
    assert [key for key, _ in logged] == ["eval/imitation"]  # once, after the second epoch
    frames = logged[0][1]
    assert frames.dtype == np.uint8 and frames.shape[1:] == (24, 64, 3)  # demonstration | imitation
    assert float(trainer.callback_metrics["eval/imitation_success"]) in (0.0, 1.0) and model.training
