"""Cheese-cave affinage tickets: vocabulary pruning before a domain fine-tune.

A word-window language model with its output head tied to the input
embedding (embed.as_linear + output bias) is first trained on a mixed corpus
of three food-workshop ticket kinds. The vocabulary is then pruned to the
words that occur in the cheese-cave tickets (rows gathered from the tied
table, ids remapped), the model is fine-tuned on cave tickets only, a
checkpoint is written half way, and a fresh model/optimizer resume from it.
Metrics are emitted as collectd PUTVAL lines (exec plugin text protocol).
"""
import math
import os
import random
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

random.seed(11)
np.random.seed(11)
mx.random.seed(11)
CTX = 4
HOST = "cave-lm"
CLOCK = [1_760_000_000]


def putval(plugin, kind, name, value):
    CLOCK[0] += 10
    print(f'PUTVAL "{HOST}/{plugin}/{kind}-{name}" interval=10 {CLOCK[0]}:{value:.6g}', flush=True)


def cave_ticket():
    wheel = random.choice(["tomme", "comte", "reblochon", "beaufort", "morbier"])
    weeks = random.randint(2, 40)
    rh = random.choice(["rh90", "rh92", "rh95", "rh97"])
    act = random.sample(["turned", "brushed", "washed", "salted", "tapped"], 2)
    rind = random.choice(["dry", "tacky", "mottled", "orange", "grey"])
    if wheel in ("comte", "beaufort"):
        grade = "extra" if weeks > 20 else random.choice(["fruity", "young"])
    else:
        grade = random.choice(["ready", "hold", "young"])
    return ["wheel", wheel, "week", str(weeks), "humidity", rh, act[0], act[1],
            "rind", rind, "grade", grade]


def bakery_ticket():
    bread = random.choice(["baguette", "miche", "rye", "brioche", "fougasse", "pain"])
    return ["batch", bread, "levain", random.choice(["stiff", "liquid", "young", "old"]),
            "proof", str(random.randint(1, 16)), "hours", "oven", random.choice(["deck", "wood", "steam"]),
            "crust", random.choice(["dark", "blond", "blistered"]), "loaves", str(random.randint(10, 90))]


def dairy_ticket():
    cow = random.choice(["montbeliarde", "abondance", "tarine", "holstein", "simmental"])
    return ["herd", cow, "pasture", random.choice(["alpine", "valley", "hay", "silage"]),
            "milking", random.choice(["dawn", "dusk"]), "litres", str(random.randint(8, 40)),
            "fat", random.choice(["high", "mid", "low"]), "cell", random.choice(["clean", "watch"])]


def windows(lines, vocab):
    xs, ys = [], []
    for words in lines:
        ids = [vocab["<s>"]] * CTX + [vocab[w] for w in words] + [vocab["</s>"]]
        for t in range(CTX, len(ids)):
            xs.append(ids[t - CTX:t])
            ys.append(ids[t])
    return np.array(xs, dtype=np.int32), np.array(ys, dtype=np.int32)


class WindowLM(nn.Module):
    def __init__(self, vocab, dims=32, hidden=128):
        super().__init__()
        self.embed = nn.Embedding(vocab, dims)
        self.mlp = nn.Sequential(nn.Linear(CTX * dims, hidden), nn.SiLU(), nn.Linear(hidden, dims))
        self.out_bias = mx.zeros((vocab,))

    def __call__(self, x):
        h = self.embed(x).reshape(x.shape[0], -1)
        return self.embed.as_linear(self.mlp(h)) + self.out_bias


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def nll(model, x, y):
    return loss_fn(model, mx.array(x), mx.array(y)).item()


def run_steps(model, opt, x, y, first, last, plugin, xv, yv, bs=64):
    vg = nn.value_and_grad(model, loss_fn)
    for step in range(first, last + 1):
        idx = np.random.randint(0, len(x), bs)
        lr_used = opt.learning_rate.item()
        loss, grads = vg(model, mx.array(x[idx]), mx.array(y[idx]))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 50 == 0:
            putval(plugin, "gauge", "lr", lr_used)
            putval(plugin, "gauge", "train_nll", loss.item())
            putval(plugin, "gauge", "val_nll", nll(model, xv, yv))


t0 = time.time()
mixed = ([cave_ticket() for _ in range(1500)] + [bakery_ticket() for _ in range(1500)]
         + [dairy_ticket() for _ in range(1500)])
random.shuffle(mixed)
words = sorted({w for line in mixed for w in line})
full_vocab = {w: i for i, w in enumerate(["<s>", "</s>"] + words)}
cave_train = [cave_ticket() for _ in range(2500)]
cave_val = [cave_ticket() for _ in range(300)]

xa, ya = windows(mixed, full_vocab)
xcv_full, ycv_full = windows(cave_val, full_vocab)
putval("corpus", "gauge", "vocab_full", len(full_vocab))
putval("corpus", "gauge", "uniform_nll_full", math.log(len(full_vocab)))

model = WindowLM(len(full_vocab))
mx.eval(model.parameters())
sched_a = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, 40), optim.cosine_decay(3e-3, 260, 2e-4)], [40])
opt_a = optim.Adamax(learning_rate=sched_a)
run_steps(model, opt_a, xa, ya, 0, 300, "stage-mixed", xcv_full, ycv_full)
cave_nll_full = nll(model, xcv_full, ycv_full)

# ---- prune the vocabulary to the cave tickets ----
kept_words = sorted({w for line in cave_train + cave_val for w in line})
kept = ["<s>", "</s>"] + kept_words
cave_vocab = {w: i for i, w in enumerate(kept)}
keep_ids = mx.array([full_vocab[w] for w in kept])

pruned = WindowLM(len(cave_vocab))
pruned.mlp.update(model.mlp.parameters())
pruned.embed.weight = model.embed.weight[keep_ids]
pruned.out_bias = model.out_bias[keep_ids]
mx.eval(pruned.parameters())

xc, yc = windows(cave_train, cave_vocab)
xcv, ycv = windows(cave_val, cave_vocab)
full_logits = model(mx.array(xcv_full))[:, keep_ids]
pruned_logits = pruned(mx.array(xcv))
putval("prune", "gauge", "vocab_kept", len(cave_vocab))
putval("prune", "gauge", "uniform_nll_kept", math.log(len(cave_vocab)))
putval("prune", "gauge", "logit_max_diff", mx.abs(full_logits - pruned_logits).max().item())
putval("prune", "gauge", "val_nll_before", cave_nll_full)
putval("prune", "gauge", "val_nll_after", nll(pruned, xcv, ycv))

# ---- fine-tune on cave tickets, checkpoint at step 100, resume in fresh objects ----
sched_b = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, 20), optim.cosine_decay(2e-3, 80, 1e-4),
     optim.linear_schedule(0.0, 1e-3, 20), optim.cosine_decay(1e-3, 80, 5e-5)], [20, 100, 120])
opt_b = optim.Adamax(learning_rate=sched_b)
run_steps(pruned, opt_b, xc, yc, 0, 100, "stage-cave", xcv, ycv)

ckpt = tempfile.mkdtemp()
pruned.save_weights(os.path.join(ckpt, "model.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "optim.safetensors"), dict(tree_flatten(opt_b.state)))
before = nll(pruned, xcv, ycv)

resumed = WindowLM(len(cave_vocab))
resumed.load_weights(os.path.join(ckpt, "model.safetensors"), strict=True)
opt_r = optim.Adamax(learning_rate=sched_b)
opt_r.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "optim.safetensors")).items()))
mx.eval(resumed.parameters(), opt_r.state)
putval("resume", "gauge", "val_nll_saved", before)
putval("resume", "gauge", "val_nll_loaded", nll(resumed, xcv, ycv))
putval("resume", "gauge", "optimizer_step", opt_r.state["step"].item())
run_steps(resumed, opt_r, xc, yc, 101, 200, "stage-cave", xcv, ycv)

putval("summary", "gauge", "val_nll_final", nll(resumed, xcv, ycv))
putval("summary", "gauge", "uniform_nll_kept", math.log(len(cave_vocab)))
putval("summary", "gauge", "wall_seconds", time.time() - t0)
