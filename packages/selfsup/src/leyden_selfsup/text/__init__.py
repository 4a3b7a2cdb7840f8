"""Text self-supervision (the ``text`` extra): GPT- and BERT-style pretraining and transfer.

Methods: :class:`CausalLMPretraining` (next token), :class:`MaskedLMPretraining` (masked tokens,
sentence order / next sentence), :class:`TextClassifier` (a new head on a pretrained trunk). Data:
:class:`TextDataModule` (the bundled standard-library corpus, text folders, ``aclImdb``, CSV/JSONL).
Trunks are ``transformers`` GPT-2/BERT models built from a config or loaded from a local folder;
tokenizers come from ``tokenizers``. Nothing here imports either package until a run starts, so the
plugin lists these classes without the extra installed.
"""

from leyden_core.lazy import exports_of, lazy_exports

TEXT_MODELS = (
    "leyden_selfsup.text.causal_lm.CausalLMPretraining",
    "leyden_selfsup.text.masked_lm.MaskedLMPretraining",
    "leyden_selfsup.text.classifier.TextClassifier",
)
TEXT_DATAMODULES = ("leyden_selfsup.text.data.TextDataModule",)

_EXPORTS = exports_of(*TEXT_MODELS, *TEXT_DATAMODULES)
__all__ = list(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
