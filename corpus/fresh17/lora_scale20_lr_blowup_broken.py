"""Pretrain a tiny character model on generic text, then LoRA-tune it on a
'legal' style corpus (rank 8, scale 20, AdamW), mlx_lm-style report lines."""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

CTX = 8

BASE_TEXT = (
    "the quick brown fox jumps over the lazy dog. a stitch in time saves nine. "
    "all that glitters is not gold. the early bird catches the worm. "
    "actions speak louder than words. practice makes perfect. "
) * 20
DOMAIN_TEXT = (
    "the court held that the property acquisition was lawful under section 24. "
    "the appellant argued that compensation was not paid within the period. "
    "the petition is dismissed and the order of the high court is upheld. "
) * 20

chars = sorted(set(BASE_TEXT + DOMAIN_TEXT))
stoi = {c: i for i, c in enumerate(chars)}
V = len(chars)


def encode(s):
    return mx.array([stoi[c] for c in s])


def windows(ids):
    n = ids.shape[0] - CTX
    idx = mx.arange(n)[:, None] + mx.arange(CTX)[None, :]
    return ids[idx], ids[CTX:]


class CharMLP(nn.Module):
    def __init__(self, d_emb=24, d_hid=128):
        super().__init__()
        self.emb = nn.Embedding(V, d_emb)
        self.fc1 = nn.Linear(CTX * d_emb, d_hid)
        self.fc2 = nn.Linear(d_hid, d_hid)
        self.out = nn.Linear(d_hid, V)

    def __call__(self, x):
        h = self.emb(x).reshape(x.shape[0], -1)
        h = nn.gelu(self.fc1(h))
        h = h + nn.gelu(self.fc2(h))
        return self.out(h)


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, rank=8, scale=20.0):
        super().__init__()
        out_d, in_d = base.weight.shape
        self.linear = base
        self.lora_a = mx.random.uniform(-1 / math.sqrt(in_d), 1 / math.sqrt(in_d), (in_d, rank))
        self.lora_b = mx.zeros((rank, out_d))
        self.scale = scale

    def __call__(self, x):
        return self.linear(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def batches(X, Y, bs):
    n = X.shape[0]
    while True:
        perm = mx.random.permutation(n)
        for i in range(0, n - bs + 1, bs):
            j = perm[i : i + bs]
            yield X[j], Y[j]


def pretrain(model, X, Y, steps=200):
    opt = optim.Adam(learning_rate=3e-3)
    lg = nn.value_and_grad(model, loss_fn)
    it = batches(X, Y, 128)
    for s in range(steps):
        xb, yb = next(it)
        loss, g = lg(model, xb, yb)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
    return loss.item()


def main():
    mx.random.seed(3)
    import random
    rng = random.Random(0)
    words = (BASE_TEXT[:600] + DOMAIN_TEXT[:220]).split()
    generic = " ".join(rng.choice(words) for _ in range(1500))
    Xb, Yb = windows(encode(generic))
    Xd, Yd = windows(encode(DOMAIN_TEXT))
    n_val = 400
    Xtr, Ytr, Xval, Yval = Xd[:-n_val], Yd[:-n_val], Xd[-n_val:], Yd[-n_val:]

    model = CharMLP()
    print(f"pretraining base model ... final loss {pretrain(model, Xb, Yb):.3f}")

    model.freeze()
    for name in ("fc1", "fc2", "out"):
        setattr(model, name, LoRALinear(getattr(model, name), rank=8, scale=20.0))
    n_tr = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    print(f"Trainable parameters: {n_tr}")

    config = {"learning_rate": 2e-2, "iters": 300, "batch_size": 16, "steps_per_report": 20, "steps_per_eval": 100}
    opt = optim.AdamW(learning_rate=config["learning_rate"], weight_decay=0.0)
    lg = nn.value_and_grad(model, loss_fn)
    it = batches(Xtr, Ytr, config["batch_size"])
    print(f"Iter 1: Val loss {loss_fn(model, Xval, Yval).item():.3f}")
    t0, acc, cnt = time.time(), 0.0, 0
    for i in range(1, config["iters"] + 1):
        xb, yb = next(it)
        loss, g = lg(model, xb, yb)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        acc += loss.item(); cnt += 1
        if i % config["steps_per_report"] == 0:
            print(f"Iter {i}: Train loss {acc / cnt:.3f}, It/sec {cnt / (time.time() - t0):.1f}")
            t0, acc, cnt = time.time(), 0.0, 0
        if i % config["steps_per_eval"] == 0:
            print(f"Iter {i}: Val loss {loss_fn(model, Xval, Yval).item():.3f}")
    print("Saved final adapter weights.")


if __name__ == "__main__":
    main()
