"""CURL: crop, contrastive loss, switches, a tiny fit on pixel Pendulum, checkpoint round trip, eval video."""

import json
import math
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch

from leyden_core.cli import main
from leyden_core.errors import LeydenConfigError
from leyden_core.testing import quiet_trainer
from leyden_rl.callbacks import EvaluationCallback
from leyden_rl.curl import CURL, center_crop, random_crop
from leyden_rl.frame_replay import FrameReplay
from leyden_rl.losses import curl_contrastive_loss

TINY = dict(env_id="pixels/Pendulum-v1", env_kwargs={"size": 20}, image_size=16, learning_starts=24,
            batch_size=8, hidden_sizes=(16,), features=8, filters=4, buffer_size=40)  # fmt: skip


def test_random_crop_shape_and_same_window_for_every_frame():
    obs = torch.arange(5 * 9 * 10 * 10).reshape(5, 9, 10, 10) % 251
    obs = obs.to(torch.uint8)
    out = random_crop(obs, 6, generator=torch.Generator().manual_seed(0))
    assert out.shape == (5, 9, 6, 6) and out.dtype == torch.uint8
    windows = set()
    for i in range(5):
        matches = [
            (t, x) for t in range(5) for x in range(5) if torch.equal(obs[i, :, t : t + 6, x : x + 6], out[i])
        ]  # fmt: skip
        assert len(matches) == 1, "all 9 channels (3 frames) share one crop window"
        windows.add(matches[0])
    assert len(windows) > 1, "each sample gets its own window"


def test_center_crop():
    obs = torch.arange(100).reshape(1, 1, 10, 10)
    assert torch.equal(center_crop(obs, 6), obs[..., 2:8, 2:8])


def test_contrastive_loss_hand_case_and_gradient():
    z = torch.eye(2)
    w = (2 * torch.eye(2)).requires_grad_()
    loss = curl_contrastive_loss(z, z, w)  # logits [[2, 0], [0, 2]]: each row's softmax picks its diagonal
    assert loss.item() == pytest.approx(math.log(1 + math.exp(-2)), rel=1e-6)
    loss.backward()
    assert torch.isfinite(w.grad).all() and w.grad.diagonal().lt(0).all(), (
        "raising W's diagonal lowers the loss"
    )
    big = curl_contrastive_loss(1e3 * z, z, w.detach())  # the max subtraction keeps huge logits finite
    assert torch.isfinite(big)


def test_switches_and_config_errors():
    with pytest.raises(LeydenConfigError, match="crop=True"):
        CURL(contrastive=True, crop=False, **TINY)
    with pytest.raises(LeydenConfigError, match="frame stacks"):
        CURL(**{**TINY, "env_id": "Pendulum-v1", "env_kwargs": None})
    sac = CURL(contrastive=False, **TINY)
    assert sac.contrastive_w is None and isinstance(sac.buffer, FrameReplay)
    obs = torch.randint(0, 255, (4, 9, 20, 20), dtype=torch.uint8)
    assert torch.equal(sac.view(obs, train=False), center_crop(obs, 16))
    no_crop = CURL(contrastive=False, crop=False, **TINY)
    assert torch.equal(no_crop.view(obs, train=True), center_crop(obs, 16))


def test_tiny_fit_trains_every_part_without_nan_and_resumes(tmp_path):
    model = CURL(total_env_steps=48, **TINY)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    trainer = quiet_trainer(max_epochs=-1, enable_checkpointing=False, default_root_dir=tmp_path)
    trainer.fit(model)
    assert model.env_steps == 48 and model.updates == 48 - 24 + 1
    after = dict(model.named_parameters())
    assert all(torch.isfinite(p).all() for p in after.values())
    for name in ("encoder.conv.0.weight", "contrastive_w", "actor.mu.weight", "critic.nets.weights.0"):
        assert not torch.equal(before[name], after[name]), f"{name} was not trained"
    # the key encoder trails the encoder by Polyak averaging
    key, online = model.encoder_target.conv[0].weight, model.encoder.conv[0].weight
    assert not torch.equal(key, online) and not torch.equal(key, before["encoder.conv.0.weight"])

    ckpt = tmp_path / "last.ckpt"
    trainer.save_checkpoint(ckpt)
    resumed = CURL(total_env_steps=64, **TINY)
    resumed_trainer = quiet_trainer(max_epochs=-1, enable_checkpointing=False, default_root_dir=tmp_path)
    resumed_trainer.fit(resumed, ckpt_path=ckpt)
    assert resumed.env_steps == 64 and resumed.updates == model.updates + 16
    # the 40-slot ring wrapped; the resumed run wrote 16 transitions + 1 episode-start frame after its head
    new = (model.buffer.pos.item() + torch.arange(17)) % 40
    kept = torch.ones(40, dtype=torch.bool).index_fill_(0, new, False)
    assert torch.equal(resumed.buffer.frames[kept], model.buffer.frames[kept]), (
        "replay restored from the checkpoint"
    )
    assert torch.equal(resumed.buffer.step[kept], model.buffer.step[kept])
    assert resumed.buffer.step[new[0]].item() == 0 and resumed.buffer.pos.item() == new[-1].item() + 1


def test_evaluation_callback_on_pixel_env_records_video(tmp_path):
    model = CURL(total_env_steps=32, contrastive=False, **TINY)
    cb = EvaluationCallback(
        every_n_env_steps=32, num_episodes=1, num_envs=1, video_every_n=1, max_video_frames=4
    )
    with mock.patch("leyden_rl.callbacks.log_video") as log_video:
        quiet_trainer(
            max_epochs=-1, enable_checkpointing=False, default_root_dir=tmp_path, callbacks=[cb]
        ).fit(model)
    assert len(cb.history) == 1 and np.isfinite(cb.history[0][1]) and cb.history[0][1] < 0  # Pendulum costs
    frames = log_video.call_args.args[2]
    assert frames.shape[0] == 4 and frames.shape[-1] == 3 and frames.dtype == np.uint8


@pytest.mark.parametrize("config", ["curl_cartpole_swingup.yaml", "curl_pixel_sac_cartpole_swingup.yaml"])
def test_example_config_runs_through_leyden_fit(config, tmp_path):
    example = Path(__file__).parents[2] / "examples" / "rl" / config
    tiny = [f"--model.init_args.{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in TINY.items()]
    main([
        "fit", "--config", str(example), f"--trainer.default_root_dir={tmp_path}", "--trainer.logger=false",
        "--trainer.enable_progress_bar=false",
        "--model.init_args.total_env_steps=32", *tiny,
    ])  # fmt: skip
    saved = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert saved["leyden_rl"]["env_steps"] == 32 and saved["leyden_rl"]["updates"] == 32 - 24 + 1
    assert all(torch.isfinite(v).all() for v in saved["state_dict"].values() if v.is_floating_point())
