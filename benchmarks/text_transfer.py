"""GPT- and BERT-style pretraining on the bundled corpus, and transfer to a labeled task with few labels.

Data: the standard library's documentation topics and the docstrings of 108 of its modules (real
English that ships with Python); the task is which of 9 module families a docstring comes from,
split by document (``leyden_selfsup.text.corpus``). Three measurements:

1. Language modelling: validation perplexity of ``CausalLMPretraining`` (the recipe of
   ``examples/selfsup/gpt_stdlib.yaml``) against an interpolated Kneser-Ney trigram model counted on
   the same training tokens and scored on exactly the same validation positions (each block's
   tokens given only the earlier tokens of that block, as the transformer sees them). The n-gram's
   discount is chosen on the validation data, which favours the baseline.
2. Transfer at 1, 5 and 20 labels per class, test accuracy: (a) TF-IDF (word 1-2 grams, fitted on
   the training split's text) + logistic regression, C chosen on validation; (b) ``TextClassifier``
   with the same transformer trained from scratch; (c) the GPT-style and (d) the BERT-style trunk
   (``bert_stdlib.yaml``) pretrained on the training split, each with a new head, all fine-tuned with
   one recipe, ``examples/selfsup/text_classifier_stdlib.yaml`` (``--quick`` caps the steps).
3. Speed: causal-LM pretraining tokens/s through Leyden (LightningModule + Trainer) against a plain
   PyTorch loop doing the same work (same model, data loader, AdamW, schedule, gradient clipping),
   alternating side by side; the ratio is Leyden over plain.

    python benchmarks/text_transfer.py --quick        # 1 seed, 50 pretraining steps, 20 fine-tuning steps
    python benchmarks/text_transfer.py --seeds 3      # the full benchmark
"""

from __future__ import annotations

import argparse
import math
import os
import time
from collections import Counter, defaultdict
from pathlib import Path
from tempfile import TemporaryDirectory

os.environ.setdefault("WANDB_MODE", "disabled")
import lightning.pytorch as pl  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from leyden_core.benchmarking import StepTimer, merge_results, read_results, result_row  # noqa: E402
from leyden_core.testing import quiet_trainer  # noqa: E402
from leyden_selfsup.optim import warmup_cosine  # noqa: E402
from leyden_selfsup.text import CausalLMPretraining, MaskedLMPretraining, TextClassifier, TextDataModule  # noqa: E402
from leyden_selfsup.text.data import pad_collate  # noqa: E402
from leyden_selfsup.text.losses import next_token_loss  # noqa: E402
from leyden_selfsup.text.tokenizer import train_tokenizer  # noqa: E402

EXAMPLES = Path(__file__).parents[1] / "examples" / "selfsup"
BUDGETS = (1, 5, 20)
TASK = "stdlib module family (9 classes)"


def recipe(config: str) -> tuple[dict, dict, dict]:
    """(model init_args, data init_args, trainer settings) of an example config."""
    loaded = yaml.safe_load((EXAMPLES / config).read_text())
    return loaded["model"]["init_args"], loaded["data"]["init_args"], loaded["trainer"]


# 1. pretraining and the n-gram baseline ------------------------------------------------------------
def pretrain(
    method: type, config: str, seed: int, epochs: int | None, steps: int, folder: Path
) -> tuple[Path, dict]:
    """Train a method from its example recipe (``steps`` caps it; -1: none); returns its checkpoint and
    validation metrics."""
    model_args, data_args, trainer_args = recipe(config)
    epochs = epochs or trainer_args["max_epochs"]
    if steps > 0:  # a capped run warms up over at most a fifth of its steps
        model_args = {**model_args, "warmup_steps": min(model_args["warmup_steps"], steps // 5)}
    pl.seed_everything(seed, verbose=False)
    model = method(**{**model_args, **({"num_samples": 0} if method is CausalLMPretraining else {})})
    data = TextDataModule(**{**data_args, "seed": seed})
    trainer = quiet_trainer(
        max_epochs=epochs, max_steps=steps, check_val_every_n_epoch=10**6, num_sanity_val_steps=0, enable_checkpointing=False,
        gradient_clip_val=trainer_args.get("gradient_clip_val"), default_root_dir=folder,
    )  # fmt: skip
    start = time.perf_counter()
    trainer.fit(model, data)
    seconds = time.perf_counter() - start
    path = folder / f"{method.__name__}_seed{seed}.ckpt"
    trainer.save_checkpoint(path)
    metrics = trainer.validate(model, data, verbose=False)[0]
    print(
        f"{method.__name__} seed {seed}: {trainer.global_step} steps in {seconds:.0f} s, {metrics}",
        flush=True,
    )
    return path, {**metrics, "steps": trainer.global_step}


class KneserNeyTrigram:
    """Interpolated Kneser-Ney trigram model over token ids (Chen & Goodman's form, one discount).

    P(w | u v) = max(c(u v w) - D, 0) / c(u v .) + D N1+(u v .) / c(u v .) * P2(w | v)
    P2(w | v)  = max(N1+(. v w) - D, 0) / N1+(. v .) + D N1+(v .) / N1+(. v .) * P1(w)   (continuation counts)
    P1(w)      = (N1+(. w) + 1) / (N1+(. .) + V)                                      (add-one continuation)
    """

    def __init__(self, stream: list[int], vocab_size: int, discount: float) -> None:
        self.d, self.vocab = discount, vocab_size
        trigrams = Counter(zip(stream, stream[1:], stream[2:]))
        self.c3 = trigrams
        self.c2_context: Counter = Counter()  # c(u v .)
        self.n3_context: Counter = Counter()  # N1+(u v .)
        self.n2: Counter = Counter()  # N1+(. v w)
        for (u, v, w), _ in trigrams.items():
            self.c2_context[u, v] += trigrams[u, v, w]
            self.n3_context[u, v] += 1
            self.n2[v, w] += 1
        self.n2_context: Counter = Counter()  # N1+(. v .)
        self.n2_follow: Counter = Counter()  # N1+(v .) among continuation bigrams
        self.n1: Counter = Counter()  # N1+(. w)
        for (v, _w), count in self.n2.items():
            self.n2_context[v] += count
            self.n2_follow[v] += 1
        for _, w in set(zip(stream, stream[1:])):
            self.n1[w] += 1
        self.n1_total = sum(self.n1.values())

    def p1(self, w: int) -> float:
        return (self.n1[w] + 1) / (self.n1_total + self.vocab)

    def p2(self, v: int, w: int) -> float:
        context = self.n2_context[v]
        if not context:
            return self.p1(w)
        return (max(self.n2[v, w] - self.d, 0) + self.d * self.n2_follow[v] * self.p1(w)) / context

    def p3(self, u: int, v: int, w: int) -> float:
        context = self.c2_context[u, v]
        if not context:
            return self.p2(v, w)
        return (max(self.c3[u, v, w] - self.d, 0) + self.d * self.n3_context[u, v] * self.p2(v, w)) / context

    def perplexity(self, blocks: torch.Tensor) -> float:
        """Over positions 1..T-1 of each block, context only from the same block (as the transformer's)."""
        total, count = 0.0, 0
        for block in blocks.tolist():
            total -= math.log(self.p2(block[0], block[1]))
            for u, v, w in zip(block, block[1:], block[2:]):
                total -= math.log(self.p3(u, v, w))
            count += len(block) - 1
        return math.exp(total / count)


def ngram_perplexity(checkpoint: Path) -> tuple[float, float]:
    """(validation perplexity, discount) of the best Kneser-Ney trigram on the GPT checkpoint's tokens."""
    model = CausalLMPretraining.load_from_checkpoint(checkpoint, weights_only=False)
    model_args, data_args, _ = recipe("gpt_stdlib.yaml")
    data = TextDataModule(**data_args)
    data.attach(model.tokenizer, "causal", model_args["block_size"])
    tokens = model.tokenizer.encode([d.text for d in data.documents("train")])
    stream = [t for ids in tokens for t in (*ids, model.tokenizer.eos_id)]
    val = data.dataset("val").blocks
    scores = {
        d: KneserNeyTrigram(stream, model.tokenizer.vocab_size, d).perplexity(val) for d in (0.6, 0.75, 0.9)
    }
    best = min(scores, key=scores.get)
    return scores[best], best


# 2. transfer -------------------------------------------------------------------------------------------
def tfidf_accuracy(budget: int, seed: int) -> tuple[float, float]:
    """(test, validation) accuracy of TF-IDF + logistic regression, C chosen on validation."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from leyden_core.data.labels import per_class_subset

    data = TextDataModule(seed=seed)
    splits = {s: [d for d in data.documents(s) if d.label is not None] for s in ("train", "val", "test")}
    labels = np.array([d.label for d in splits["train"]])
    train = [d for d, keep in zip(splits["train"], per_class_subset(labels, budget, seed)) if keep]
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)
    vectorizer.fit([d.text for d in data.documents("train")])  # the same unlabeled text pretraining sees
    x = {
        s: vectorizer.transform([d.text for d in docs])
        for s, docs in (("train", train), *((s, splits[s]) for s in ("val", "test")))
    }
    y = {
        s: np.array([d.label for d in docs])
        for s, docs in (("train", train), *((s, splits[s]) for s in ("val", "test")))
    }
    best = None
    for c in (0.1, 1.0, 10.0, 100.0):
        clf = LogisticRegression(C=c, max_iter=2000).fit(x["train"], y["train"])
        val = clf.score(x["val"], y["val"])
        if best is None or val > best[0]:
            best = (val, clf.score(x["test"], y["test"]))
    return best[1], best[0]


def classifier_accuracy(
    pretrained: Path | None, arch: str, budget: int, seed: int, max_steps: int, folder: Path
) -> tuple[float, float]:
    """(test, validation) accuracy of TextClassifier with the example recipe (at most ``max_steps`` steps)."""
    model_args, data_args, trainer_args = recipe("text_classifier_stdlib.yaml")
    pl.seed_everything(seed, verbose=False)
    model = TextClassifier(
        **{**model_args, "pretrained": str(pretrained) if pretrained else None, "arch": arch}
    )
    data = TextDataModule(**{**data_args, "labels_per_class": budget, "seed": seed})
    steps = max_steps if max_steps > 0 else trainer_args["max_steps"]
    trainer = quiet_trainer(max_epochs=-1, max_steps=steps, check_val_every_n_epoch=10**6,
                            num_sanity_val_steps=0, enable_checkpointing=False, default_root_dir=folder)  # fmt: skip
    trainer.fit(model, data)
    val = float(trainer.validate(model, data, verbose=False)[0]["val/accuracy"])
    test = float(trainer.test(model, data, verbose=False)[0]["test/accuracy"])
    return test, val


# 3. speed ----------------------------------------------------------------------------------------------
def speed_setup(batch_size: int) -> tuple[dict, TextDataModule]:
    model_args, data_args, _ = recipe("gpt_stdlib.yaml")
    data = TextDataModule(**{**data_args, "batch_size": batch_size})
    tokenizer = train_tokenizer("bpe", data.tokenizer_corpus(), model_args["vocab_size"])
    data.attach(tokenizer, "causal", model_args["block_size"])
    return {**model_args, "num_samples": 0}, data


def leyden_tokens_per_s(model_args: dict, data: TextDataModule, steps: int, warmup: int) -> float:
    torch.manual_seed(0)
    model = CausalLMPretraining(**model_args)
    model.tokenizer = data.tokenizer  # the same tokenizer as the plain loop: no training inside the timing
    timer = StepTimer(warmup)
    trainer = quiet_trainer(max_steps=warmup + steps, enable_checkpointing=False, limit_val_batches=0,
                            num_sanity_val_steps=0, gradient_clip_val=1.0, callbacks=[timer])  # fmt: skip
    trainer.fit(model, data)
    return steps * data.hparams.batch_size * model_args["block_size"] / (timer.end - timer.start)


def plain_tokens_per_s(model_args: dict, data: TextDataModule, steps: int, warmup: int) -> float:
    """The same work without Lightning: model, AdamW groups, warmup-cosine schedule, clipping, loader."""
    torch.manual_seed(0)
    net = CausalLMPretraining(**model_args).net  # the same network; the training loop is written out here
    trainable = [(n, p) for n, p in net.named_parameters() if p.requires_grad]
    decay = [p for n, p in trainable if p.ndim > 1 and "wpe" not in n]
    rest = [p for n, p in trainable if not (p.ndim > 1 and "wpe" not in n)]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": model_args["weight_decay"]}, {"params": rest, "weight_decay": 0.0}],
        lr=model_args["lr"], betas=(0.9, 0.98),
    )  # fmt: skip
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, warmup_cosine(model_args["warmup_steps"], warmup + steps)
    )
    loader = DataLoader(data.dataset("train"), batch_size=data.hparams.batch_size, shuffle=True,
                        collate_fn=pad_collate(data.tokenizer.pad_id))  # fmt: skip
    net.train()
    step, start = 0, None
    while step < warmup + steps:
        for batch in loader:
            if step == warmup:
                start = time.perf_counter()
            ids = batch["input_ids"]
            loss = next_token_loss(net(ids, head="lm"), ids)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            step += 1
            if step == warmup + steps:
                break
    return steps * data.hparams.batch_size * model_args["block_size"] / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seeds", type=int, default=None, help="default: 1 with --quick, else 3")
    parser.add_argument("--pretrain-epochs", type=int, default=None, help="default: the recipes'")
    parser.add_argument("--pretrain-steps", type=int, default=None, help="cap (default: 50 with --quick)")
    parser.add_argument("--finetune-steps", type=int, default=None, help="cap (default: 20 with --quick)")
    parser.add_argument("--speed-steps", type=int, default=None, help="timed steps per side and alternation")
    parser.add_argument(
        "--first-seed", type=int, default=0, help="seeds first-seed .. first-seed + seeds - 1"
    )
    parser.add_argument(
        "--no-speed", action="store_true", help="skip the tokens/s comparison (keep the recorded one)"
    )
    parser.add_argument("--out", type=Path, help="default: results/text_transfer[_quick].json")
    args = parser.parse_args()
    seeds = args.seeds or (1 if args.quick else 3)
    epochs = args.pretrain_epochs
    pretrain_steps = args.pretrain_steps or (50 if args.quick else -1)
    finetune_steps = args.finetune_steps or (20 if args.quick else -1)
    speed_steps, repeats = args.speed_steps or (4 if args.quick else 20), 2 if args.quick else 3
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    load_at_start = os.getloadavg()[0]
    # one results file: a run of some seeds (or without the speed rows) replaces only what it measures
    name = "text_transfer_quick" if args.quick else "text_transfer"
    new_seeds = range(args.first_seed, args.first_seed + seeds)

    def rerun(row: dict) -> bool:
        speed = row["metric"] in ("tokens_per_s", "throughput_ratio")
        return not args.no_speed if speed else row["seed"] in new_seeds

    out = args.out or Path(__file__).parent / "results" / f"{name}.json"
    rows: list[dict] = []
    details: defaultdict[str, dict] = defaultdict(dict)
    with TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for seed in new_seeds:
            gpt, gpt_metrics = pretrain(
                CausalLMPretraining, "gpt_stdlib.yaml", seed, epochs, pretrain_steps, folder
            )
            bert, bert_metrics = pretrain(
                MaskedLMPretraining, "bert_stdlib.yaml", seed, epochs, pretrain_steps, folder
            )
            ngram, discount = ngram_perplexity(gpt)
            rows += [
                result_row("leyden.CausalLMPretraining", "stdlib corpus, val tokens", seed, "val_perplexity", gpt_metrics["val/perplexity"]),
                result_row("kneser_ney_trigram", "stdlib corpus, val tokens", seed, "val_perplexity", ngram),
                result_row("leyden.MaskedLMPretraining", "stdlib corpus, val tokens", seed, "val_mlm_accuracy", bert_metrics.get("val/mlm_accuracy")),
            ]  # fmt: skip
            details["kneser_ney_discount"][str(seed)] = discount
            print(
                f"seed {seed}: perplexity GPT {gpt_metrics['val/perplexity']:.1f}, Kneser-Ney trigram {ngram:.1f} (D={discount})",
                flush=True,
            )
            for budget in BUDGETS:
                setting = f"{TASK}, {budget} labels/class"
                test, val = tfidf_accuracy(budget, seed)
                rows.append(result_row("tfidf_logreg", setting, seed, "test_accuracy", test))
                for name, checkpoint, arch in (
                    ("scratch", None, "gpt2"),
                    ("gpt", gpt, "gpt2"),
                    ("bert", bert, "bert"),
                ):
                    accuracy, val_accuracy = classifier_accuracy(
                        checkpoint, arch, budget, seed, finetune_steps, folder
                    )
                    rows.append(
                        result_row(f"leyden.TextClassifier({name})", setting, seed, "test_accuracy", accuracy)
                    )
                    details["val_accuracy"][f"{name}, {budget}/class, seed {seed}"] = val_accuracy
                    print(
                        f"seed {seed} {budget:2d}/class {name:8s} test {accuracy:.3f} (val {val_accuracy:.3f});"
                        f" tfidf {test:.3f} (val {val:.3f})",
                        flush=True,
                    )
    model_args, data = speed_setup(batch_size=32)
    for repeat in range(0 if args.no_speed else repeats):
        for method, measure in (
            ("plain_pytorch", plain_tokens_per_s),
            ("leyden.CausalLMPretraining", leyden_tokens_per_s),
        ):
            value = measure(model_args, data, speed_steps, warmup=2)
            rows.append(
                result_row(
                    method, "gpt_stdlib recipe, batch 32 x 128 tokens, CPU", repeat, "tokens_per_s", value
                )
            )
            print(f"repeat {repeat} {method:28s} {value:.0f} tokens/s", flush=True)
    if not args.no_speed:
        mean = lambda m: np.mean(
            [r["value"] for r in rows if r["method"] == m and r["metric"] == "tokens_per_s"]
        )  # noqa: E731
        ratio = mean("leyden.CausalLMPretraining") / mean("plain_pytorch")
        rows.append(
            result_row(
                "leyden.CausalLMPretraining", "ratio to plain_pytorch", None, "throughput_ratio", ratio
            )
        )
        print(f"Leyden / plain PyTorch tokens/s: {ratio:.3f}")
    # the kept rows' details and load readings stay beside them (read now: other seeds may run side by side)
    earlier = read_results(out.stem, out.parent)
    kept_any = any(not rerun(row) for row in earlier.get("rows", []))
    load = [*(earlier.get("load_average_1min", []) if kept_any else []),
            {"start": load_at_start, "end": os.getloadavg()[0]}]  # fmt: skip
    details = {
        key: {**earlier.get(key, {}), **details[key]} for key in ("kneser_ney_discount", "val_accuracy")
    }
    merge_results(out.stem, rows, rerun, results_dir=out.parent, earlier=earlier, load_average_1min=load,
                  mode="quick" if args.quick else "full",
                  pretrain_epochs=epochs or "recipe", pretrain_steps=pretrain_steps, finetune_steps=finetune_steps, **details)  # fmt: skip


if __name__ == "__main__":
    main()
