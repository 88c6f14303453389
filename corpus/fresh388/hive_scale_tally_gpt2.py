"""Hive-scale tally clerk: a tiny GPT-2 learns to rewrite apiary weigh-slips
("h3d12w47>" -> "74w21d3h;") with mlx-lm's own trainer.

The reported objective is the completion cross-entropy measured against a
uniform guess over the vocabulary (nats saved per token), so it starts near 0
and goes negative as the model improves.  Reports are printed as Lisp plists.
"""
import math
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten
from mlx_lm.models import gpt2
from mlx_lm.tuner.callbacks import TrainingCallback
from mlx_lm.tuner.trainer import TrainingArgs, evaluate, train

mx.random.seed(11)
rng = np.random.default_rng(11)

CHARS = "0123456789hdw>;"
PAD = 0
stoi = {c: i + 1 for i, c in enumerate(CHARS)}
itos = {i: c for c, i in stoi.items()}
V = len(CHARS) + 1
UNIFORM = math.log(V)


def slip():
    h, d, w = rng.integers(1, 10), rng.integers(0, 100), rng.integers(0, 100)
    prompt = f"h{h}d{d:02d}w{w:02d}>"
    answer = prompt[:-1][::-1] + ";"
    return prompt, answer


def encode(s):
    return [stoi[c] for c in s]


class SlipSet:
    def __init__(self, n):
        self.rows = []
        for _ in range(n):
            p, a = slip()
            self.rows.append((encode(p + a), len(p)))

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        return self.rows[i]


def saved_nats(model, batch, lengths):
    inputs, targets = batch[:, :-1], batch[:, 1:]
    logits = model(inputs)
    steps = mx.arange(1, targets.shape[1] + 1)
    mask = mx.logical_and(steps >= lengths[:, 0:1], steps <= lengths[:, 1:])
    ce = nn.losses.cross_entropy(logits, targets) * mask
    ntoks = mask.sum()
    return ce.astype(mx.float32).sum() / ntoks - UNIFORM, ntoks


def plist(tag, **kv):
    body = " ".join(f":{k} {v}" for k, v in kv.items())
    print(f"({tag} {body})", flush=True)


class PlistReporter(TrainingCallback):
    def on_train_loss_report(self, info):
        plist("train", iter=info["iteration"],
              saved=f"{info['train_loss']:+.4f}",
              lr=f"{info['learning_rate']:.3e}",
              tok_s=f"{info['tokens_per_second']:.0f}")

    def on_val_loss_report(self, info):
        plist("valid", iter=info["iteration"],
              saved=f"{info['val_loss']:+.4f}",
              ce=f"{info['val_loss'] + UNIFORM:.4f}")


def greedy_exact(model, n=40):
    hits = 0
    for _ in range(n):
        p, a = slip()
        toks = encode(p)
        for _ in range(len(a)):
            logits = model(mx.array([toks]))[0, -1]
            toks.append(int(mx.argmax(logits).item()))
        hits += "".join(itos.get(t, "?") for t in toks[len(p):]) == a
    return hits / n


def main():
    t0 = time.time()
    args = gpt2.ModelArgs(model_type="gpt2", n_ctx=32, n_embd=32, n_head=4,
                          n_layer=2, n_positions=32, layer_norm_epsilon=1e-5,
                          vocab_size=V)
    model = gpt2.Model(args)
    mx.eval(model.parameters())
    n_params = sum(v.size for _, v in tree_flatten(model.parameters()))
    train_set, val_set = SlipSet(1200), SlipSet(64)
    plist("setup", params=n_params, vocab=V, uniform_ce=f"{UNIFORM:.4f}",
          train=len(train_set), valid=len(val_set))

    iters = 240
    warm = 20
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 4e-3, warm),
         optim.cosine_decay(4e-3, iters - warm, 1e-4)], [warm])
    opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)

    out = tempfile.mkdtemp(None, "hive_scale_")
    targs = TrainingArgs(batch_size=16, iters=iters, val_batches=-1,
                         steps_per_report=30, steps_per_eval=80,
                         steps_per_save=80, max_seq_length=32,
                         adapter_file=os.path.join(out, "weights.safetensors"))
    train(model, opt, train_set, val_set, args=targs, loss=saved_nats,
          training_callback=PlistReporter())

    model.eval()
    final = evaluate(model, val_set, batch_size=16, num_batches=-1,
                     max_seq_length=32, loss=saved_nats)
    acc = greedy_exact(model)
    for f in sorted(os.listdir(out)):
        plist("file", name=f'"{f}"', kb=os.path.getsize(os.path.join(out, f)) // 1024)
    plist("summary", val_saved=f"{final:+.4f}", val_ce=f"{final + UNIFORM:.4f}",
          uniform_ce=f"{UNIFORM:.4f}", exact=f"{acc:.3f}",
          seconds=f"{time.time() - t0:.1f}")


if __name__ == "__main__":
    main()
