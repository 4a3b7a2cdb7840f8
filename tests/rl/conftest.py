import os

import pytest
import torch

os.environ.setdefault("WANDB_MODE", "disabled")
# MuJoCo picks its GL backend once, when first imported (test modules import it at collection): headless EGL
os.environ.setdefault("MUJOCO_GL", "egl")


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)
