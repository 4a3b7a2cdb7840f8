import os

import pytest
import torch

os.environ.setdefault("WANDB_MODE", "disabled")
# MuJoCo picks its GL backend once, when first imported (test modules import it at collection): headless EGL
os.environ.setdefault("MUJOCO_GL", "egl")


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def started_without_trainer(model):
    """An on-policy model as a Trainer leaves it at the start of fit, without a Trainer: envs made and reset."""
    from leyden_rl.envs import make_vector_env

    model.setup("collect")
    model.envs = make_vector_env(model.env_id, model.num_envs, model.seed)
    model.on_train_start()
    return model
