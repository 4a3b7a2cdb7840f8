"""The pieces the text methods are made of: masking statistics, losses, pooling, the missing-extra error."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from leyden_selfsup.text.losses import IGNORE, mask_tokens, masked_token_loss, next_token_loss
from leyden_selfsup.text.trunks import pool


def test_masking_chooses_15_percent_and_replaces_80_10_10() -> None:
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(10, 1000, (200, 500), generator=generator)
    maskable = torch.ones_like(ids, dtype=torch.bool)
    maskable[:, 0] = False  # [CLS]
    corrupted, targets = mask_tokens(ids, maskable, mask_id=3, vocab_size=1000, generator=generator)
    chosen = targets != IGNORE
    assert not chosen[:, 0].any()
    assert chosen.float().mean().item() == pytest.approx(0.15 * 499 / 500, abs=0.003)
    torch.testing.assert_close(targets[chosen], ids[chosen])
    masked = (corrupted == 3) & chosen
    kept = (corrupted == ids) & chosen
    random = chosen & ~masked & ~kept
    n = chosen.sum().item()
    assert masked.sum().item() / n == pytest.approx(0.8, abs=0.01)
    assert kept.sum().item() / n == pytest.approx(0.1 + 0.1 / 1000, abs=0.01)  # a random draw may hit itself
    assert random.sum().item() / n == pytest.approx(0.1, abs=0.01)
    assert torch.equal(corrupted[~chosen], ids[~chosen])


def test_next_token_loss_scores_position_t_against_token_t_plus_1() -> None:
    ids = torch.tensor([[1, 2, 3]])
    logits = torch.full((1, 3, 5), -30.0)
    logits[0, 0, 2] = logits[0, 1, 3] = 30.0  # certain of the right next tokens
    assert next_token_loss(logits, ids).item() < 1e-6
    logits[0, 1, 3], logits[0, 1, 4] = -30.0, 30.0
    assert next_token_loss(logits, ids).item() == pytest.approx(30.0, abs=0.01)  # (0 + 60) / 2


def test_masked_loss_without_targets_is_zero_with_a_gradient() -> None:
    logits = torch.randn(2, 4, 7, requires_grad=True)
    loss = masked_token_loss(logits, torch.full((2, 4), IGNORE))
    loss.backward()
    assert loss.item() == 0.0 and logits.grad is not None


def test_pooling_ignores_padding() -> None:
    hidden = torch.arange(12.0).view(2, 3, 2)
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    torch.testing.assert_close(pool(hidden, mask, "mean"), torch.tensor([[1.0, 2.0], [8.0, 9.0]]))
    torch.testing.assert_close(pool(hidden, mask, "last"), torch.tensor([[2.0, 3.0], [10.0, 11.0]]))
    torch.testing.assert_close(pool(hidden, mask, "first"), hidden[:, 0])


WITHOUT_THE_EXTRA = """
import importlib.abc, importlib.metadata, sys

class NotInstalled(importlib.abc.MetaPathFinder):  # as if transformers and tokenizers were not installed
    def find_spec(self, name, path, target=None):
        if name.partition(".")[0] in ("transformers", "tokenizers"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, NotInstalled())
_distribution, _version = importlib.metadata.distribution, importlib.metadata.version


def hide(real):
    def lookup(name):
        if name.partition("[")[0].lower() in ("transformers", "tokenizers"):
            raise importlib.metadata.PackageNotFoundError(name)
        return real(name)

    return lookup


importlib.metadata.distribution, importlib.metadata.version = hide(_distribution), hide(_version)
from leyden_core.cli import list_plugins
from leyden_core.errors import LeydenConfigError
from leyden_core.plugins import import_object
from leyden_selfsup.plugin import plugin

classes = [import_object(path) for path in (*plugin.models, *plugin.datamodules)]
list_plugins()
for name in ("CausalLMPretraining", "MaskedLMPretraining", "TextClassifier"):
    try:
        next(c for c in classes if c.__name__ == name)()
    except LeydenConfigError as error:
        print(name, "->", error.fix)
"""


def test_without_the_extra_the_plugin_lists_every_class_and_a_text_run_names_the_extra() -> None:
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_THE_EXTRA], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (
        "SimCLR" in result.stdout
        and "CausalLMPretraining" in result.stdout
        and "TextDataModule" in result.stdout
    )
    for name in ("CausalLMPretraining", "MaskedLMPretraining", "TextClassifier"):
        assert f'{name} -> pip install "leyden-selfsup[text]"' in result.stdout, result.stdout


class StubMesh:
    """A device mesh's names and sizes (a real one needs a process group)."""

    def __init__(self, **sizes: int) -> None:
        self.sizes, self.mesh_dim_names = sizes, tuple(sizes)

    def __getitem__(self, name: str) -> StubMesh:
        return StubMesh(**{name: self.sizes[name]})

    def size(self) -> int:
        return next(iter(self.sizes.values()))


def test_sharding_uses_the_data_parallel_mesh_and_refuses_tensor_parallelism() -> None:
    from leyden_core.errors import LeydenConfigError
    from leyden_selfsup.text.sharding import data_parallel_mesh

    chosen = data_parallel_mesh(StubMesh(data_parallel=4, tensor_parallel=1), "CausalLMPretraining")
    assert chosen.mesh_dim_names == ("data_parallel",) and chosen.size() == 4
    with pytest.raises(LeydenConfigError) as error:
        data_parallel_mesh(StubMesh(data_parallel=1, tensor_parallel=2), "CausalLMPretraining")
    assert "tensor_parallel_size=2" in error.value.problem and "tensor_parallel_size=1" in error.value.fix
