"""Two-tower catalog search for a glassblowing supply shop.

Queries are written in customer words, catalog entries in supplier words, so
the towers must learn to map one vocabulary onto the other. Stage 1 adapts on
the "tools" section of the catalog, stage 2 reuses the same trainer on the
"colour rods" section. Mean pooling over real tokens, L2-normalised outputs,
InfoNCE with in-batch negatives.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

SEED = 7
DOC_VOCAB = 200  # supplier tokens: 0..99 tools, 100..199 colour rods
VOCAB = 400      # customer tokens live at 200..399
PAD = VOCAB
DIM = 64
MAXLEN = 12
N_ITEMS = 256    # per section


def make_section(rng, lo, n_items):
    docs, queries = [], []
    for _ in range(n_items):
        k = rng.integers(5, 9)
        toks = rng.choice(np.arange(lo, lo + 100), size=k, replace=False)
        docs.append(list(toks))
        # customer words: a translated subset of the supplier words
        q = rng.choice(toks, size=rng.integers(3, k + 1), replace=False) + 200
        queries.append(list(q))
    return docs, queries


def pad(seqs):
    out = np.full((len(seqs), MAXLEN), PAD, dtype=np.int32)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = s[:MAXLEN]
    return mx.array(out)


class Tower(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB + 1, DIM)
        self.proj = nn.Linear(DIM, DIM)

    def __call__(self, ids):
        mask = (ids != PAD).astype(mx.float32)[..., None]
        h = self.embed(ids)
        pooled = (h * mask).sum(axis=1) / mx.maximum(mask.sum(axis=1), 1.0)
        z = self.proj(nn.gelu(pooled))
        return z / mx.maximum(mx.linalg.norm(z, axis=-1, keepdims=True), 1e-6)


class DualEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.query_tower = Tower()
        self.doc_tower = Tower()
        self.log_scale = mx.array(math.log(20.0))

    def __call__(self, q, d):
        return self.query_tower(q), self.doc_tower(d)


def info_nce(model, q, d):
    qe, de = model(q, d)
    logits = mx.exp(model.log_scale) * (qe @ de.T)
    labels = mx.arange(q.shape[0])
    return 0.5 * (
        nn.losses.cross_entropy(logits, labels, reduction="mean")
        + nn.losses.cross_entropy(logits.T, labels, reduction="mean")
    )


def recall_at_1(model, queries, docs):
    qe = model.query_tower(pad(queries))
    de = model.doc_tower(pad(docs))
    top = mx.argmax(qe @ de.T, axis=1)
    return (top == mx.arange(len(queries))).astype(mx.float32).mean().item()


class TrainerControl:
    def __init__(self):
        self.should_training_stop = False


class TargetLossCallback:
    """Ends a run once the smoothed training loss is below a target."""

    def __init__(self, target):
        self.target = target

    def on_log(self, trainer, logs, control):
        if logs["loss_ema"] < self.target:
            control.should_training_stop = True


class CatalogTrainer:
    def __init__(self, model, optimizer, callbacks=(), batch_size=32,
                 max_steps=400, log_every=25):
        self.model = model
        self.optimizer = optimizer
        self.callbacks = list(callbacks)
        self.batch_size = batch_size
        self.max_steps = max_steps
        self.log_every = log_every
        self.control = TrainerControl()
        self.train_data = None
        self._reset_run_state()

    def _reset_run_state(self):
        """Per-run state, reset at every train() so a reused trainer starts clean."""
        self.global_step = 0
        self.loss_history = []
        self.stop_requested = False

    def _sync_callback_stop(self):
        if self.control.should_training_stop:
            self.stop_requested = True

    def train(self, seed):
        self._reset_run_state()
        self.control.should_training_stop = False
        queries, docs = self.train_data
        n = len(queries)
        rng = np.random.default_rng(seed)
        loss_and_grad = nn.value_and_grad(self.model, info_nce)
        ema = None
        while self.global_step < self.max_steps:
            if self.stop_requested:
                print(f"  stopping early at step {self.global_step}")
                break
            idx = rng.choice(n, size=self.batch_size, replace=False)
            q = pad([queries[i] for i in idx])
            d = pad([docs[i] for i in idx])
            loss, grads = loss_and_grad(self.model, q, d)
            self.optimizer.update(self.model, grads)
            mx.eval(self.model.parameters(), self.optimizer.state, loss)
            self.global_step += 1
            lv = loss.item()
            ema = lv if ema is None else 0.9 * ema + 0.1 * lv
            self.loss_history.append(lv)
            if self.global_step % self.log_every == 0:
                logs = {"step": self.global_step, "loss": lv, "loss_ema": ema}
                print(f"  step {self.global_step:4d}  loss {lv:.4f}  ema {ema:.4f}")
                for cb in self.callbacks:
                    cb.on_log(self, logs, self.control)
                self._sync_callback_stop()
        return {"steps": self.global_step,
                "final_loss": self.loss_history[-1] if self.loss_history else None}


def fmt(x):
    return "-" if x is None else f"{x:.4f}"


def main():
    mx.random.seed(SEED)
    rng = np.random.default_rng(SEED)
    tools_docs, tools_q = make_section(rng, 0, N_ITEMS)
    rods_docs, rods_q = make_section(rng, 100, N_ITEMS)

    model = DualEncoder()
    mx.eval(model.parameters())
    optimizer = optim.AdamW(learning_rate=3e-3, weight_decay=0.01)
    trainer = CatalogTrainer(model, optimizer,
                             callbacks=[TargetLossCallback(target=0.6)])

    print(f"before: R@1 tools {recall_at_1(model, tools_q, tools_docs):.3f}  "
          f"rods {recall_at_1(model, rods_q, rods_docs):.3f}  (chance {1 / N_ITEMS:.3f})")

    t0 = time.time()
    print("stage 1: tools section")
    trainer.train_data = (tools_q, tools_docs)
    out1 = trainer.train(seed=1)
    print(f"stage 1 done: steps {out1['steps']}  final loss {fmt(out1['final_loss'])}  "
          f"R@1 tools {recall_at_1(model, tools_q, tools_docs):.3f}  "
          f"rods {recall_at_1(model, rods_q, rods_docs):.3f}")

    print("stage 2: colour rods section")
    trainer.train_data = (rods_q, rods_docs)
    out2 = trainer.train(seed=2)
    print(f"stage 2 done: steps {out2['steps']}  final loss {fmt(out2['final_loss'])}  "
          f"R@1 tools {recall_at_1(model, tools_q, tools_docs):.3f}  "
          f"rods {recall_at_1(model, rods_q, rods_docs):.3f}")
    print(f"total steps {out1['steps'] + out2['steps']}  time {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
