"""The AlphaZero LightningModule: a tiny fit, exact resume, seeding, evaluation logging, the CLI, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from leyden_core.cli import main
from leyden_core.errors import LeydenConfigError
from leyden_core.testing import quiet_trainer
from leyden_rl import AlphaZero
from leyden_rl.alphazero.evaluation import AlphaZeroEvaluation

TINY = dict(blocks=1, channels=8, value_hidden=8, num_games=4, num_simulations=4, batch_size=16,
            updates_per_step=2, replay_capacity=64)  # fmt: skip
EXAMPLES = Path(__file__).parents[2] / "examples" / "rl"


def _fit(tmp_path, model, ckpt_path=None, **trainer_kwargs):
    trainer = quiet_trainer(
        max_epochs=-1, default_root_dir=tmp_path, enable_checkpointing=False, **trainer_kwargs
    )
    trainer.fit(model, ckpt_path=ckpt_path)
    return trainer


def _weights(model):
    return [t.detach().clone() for t in model.state_dict().values()]


def test_fit_learns_something_and_resumes_exactly(tmp_path):
    """A run interrupted by its checkpoint and resumed ends where one uninterrupted run ends."""
    first = AlphaZero(total_env_steps=40, seed=0, **TINY)
    before = _weights(first)
    trainer = _fit(tmp_path / "a", first)
    assert first.env_steps >= 40 and first.iterations >= 2 and first.window.size == min(64, first.env_steps)
    assert any(not torch.equal(a, b) for a, b in zip(before, _weights(first))), "no weight changed"
    assert all(torch.isfinite(p).all() for p in first.parameters())
    ckpt = tmp_path / "first.ckpt"
    trainer.save_checkpoint(ckpt)
    saved = torch.load(ckpt, weights_only=True)
    assert saved["leyden_alphazero"]["window"]["size"] == first.window.size
    assert saved["optimizer_states"][0]["state"], "the optimizer's moments are in the checkpoint"

    resumed = AlphaZero(total_env_steps=100, seed=0, **TINY)
    _fit(tmp_path / "b", resumed, ckpt_path=ckpt)
    straight = AlphaZero(total_env_steps=100, seed=0, **TINY)
    _fit(tmp_path / "c", straight)
    assert resumed.iterations == straight.iterations > first.iterations
    assert resumed.env_steps == straight.env_steps and resumed.games_played == straight.games_played
    assert all(torch.equal(a, b) for a, b in zip(_weights(resumed), _weights(straight)))
    assert torch.equal(resumed.window.values, straight.window.values)


def test_same_seed_same_weights_other_seed_other_weights(tmp_path):
    runs = []
    for attempt, seed in enumerate((3, 3, 4)):
        model = AlphaZero(total_env_steps=30, seed=seed, **TINY)
        _fit(tmp_path / str(attempt), model)
        runs.append(_weights(model))
    assert all(torch.equal(a, b) for a, b in zip(runs[0], runs[1]))
    assert not all(torch.equal(a, b) for a, b in zip(runs[0], runs[2]))


def test_speed_report_splits_search_time_and_progress_counts_moves(tmp_path):
    model = AlphaZero(total_env_steps=20, seed=0, **TINY)
    _fit(tmp_path, model)
    progress = model.training_progress()
    assert (progress.done, progress.total, progress.unit) == (model.env_steps, 20, "self-play moves")
    speed = model.speed()
    assert speed["positions_per_s"] > 0 and speed["simulations_per_s"] > 0
    shares = speed["network_share"] + speed["game_share"] + speed["tree_share"]
    assert abs(shares - 1.0) < 1e-6 and speed["network_share"] > 0 and speed["game_share"] > 0


def test_evaluation_callback_logs_matches_and_a_board_to_wandb(tmp_path, monkeypatch):
    wandb = pytest.importorskip("wandb")
    from lightning.pytorch.loggers import WandbLogger

    from leyden_core.wandb_offline import read_offline_run

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    if wandb.run is not None:
        wandb.finish()
    logger = WandbLogger(project="leyden-test", save_dir=str(tmp_path), mode="offline")
    callback = AlphaZeroEvaluation(every_n_steps=2, games_per_colour=2, mcts_simulations=8)
    model = AlphaZero(total_env_steps=60, seed=0, **TINY)
    _fit(tmp_path, model, logger=logger, callbacks=[callback], log_every_n_steps=1)
    run_dir = Path(logger.experiment.dir).parent
    logger.experiment.finish()
    assert len(callback.history) == 3 * (model.iterations // 2)
    assert {name for _, _, _, name, _ in callback.history} == {"random", "mcts", "best"}
    run = read_offline_run(run_dir)
    scores = run.metric("eval/random/score")
    assert len(scores) == model.iterations // 2 and all(0 <= s <= 1 for s in scores)
    assert run.metric("eval/mcts/elo") and run.metric("train/loss")
    logged = {key for row in run.history for key in row}
    assert any(key.startswith("eval/sample_game") for key in logged), "the rendered sample game is logged"


def test_evaluation_state_round_trips():
    callback = AlphaZeroEvaluation(opponents=("random",))
    callback.history = [(2, 1.5, 40, "random", 0.75)]
    callback.best_state = {"w": torch.ones(2)}
    copy = AlphaZeroEvaluation(opponents=("random",))
    copy.load_state_dict(callback.state_dict())
    assert copy.history == callback.history and torch.equal(copy.best_state["w"], torch.ones(2))


def test_bad_settings_are_config_errors():
    with pytest.raises(LeydenConfigError, match="connect_four"):
        AlphaZero(game="checkers")
    with pytest.raises(LeydenConfigError, match="num_simulations"):
        AlphaZero(num_simulations=0)
    with pytest.raises(LeydenConfigError, match="dirichlet_fraction"):
        AlphaZero(dirichlet_fraction=1.5)
    with pytest.raises(LeydenConfigError, match="opponents"):
        AlphaZeroEvaluation(opponents=("stockfish",))


@pytest.mark.parametrize(
    "config",
    [
        "alphazero_tictactoe.yaml",
        "alphazero_connect4.yaml",
        "alphazero_go7_cpu.yaml",
        "alphazero_go9_gpu.yaml",
    ],
)
def test_example_config_fits_through_the_cli(config, tmp_path):
    if "go" in config:
        pytest.importorskip("pyspiel", reason="Go runs on OpenSpiel (the rl 'games' extra)")
    args = ["fit", "--config", str(EXAMPLES / config), f"--trainer.default_root_dir={tmp_path}"]
    if "gpu" in config:  # the GPU recipe's model, on the CPU
        args += ["--trainer.accelerator=cpu", "--trainer.devices=1", "--trainer.precision=32-true"]
    tiny = ["--model.init_args.total_env_steps=8", "--model.init_args.num_games=2",
            "--model.init_args.num_simulations=2", "--model.init_args.updates_per_step=1",
            "--model.init_args.batch_size=8", "--model.init_args.blocks=1", "--model.init_args.channels=4",
            "--trainer.callbacks=[]"]  # fmt: skip
    main([*args, "--trainer.enable_progress_bar=false", "--trainer.logger=false", *tiny])
    saved = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert saved["leyden_alphazero"]["env_steps"] >= 8
