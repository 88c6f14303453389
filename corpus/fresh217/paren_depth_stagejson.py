"""Tiny causal transformer that tags every character of a bracket string with
its current nesting depth. Two-stage curriculum: short strings first, then
longer strings (new positions, deeper nesting). LR warms up from exactly 0.
Logs one JSON object per line."""
import json
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

MAX_DEPTH = 8          # depth classes 0..8
MAX_LEN = 24
STAGES = [("short", 8, 120), ("long", 24, 160)]   # (name, length, steps)


def bracket_strings(rng, n, length):
    toks = np.zeros((n, length), dtype=np.int32)
    depth = np.zeros((n, length), dtype=np.int32)
    for i in range(n):
        d = 0
        for t in range(length):
            if d == 0:
                up = True
            elif d == MAX_DEPTH:
                up = False
            else:
                up = rng.random() < 0.55
            d += 1 if up else -1
            toks[i, t] = 0 if up else 1
            depth[i, t] = d
    return mx.array(toks), mx.array(depth)


class DepthTagger(nn.Module):
    def __init__(self, dims=32, heads=4, layers=2):
        super().__init__()
        self.tok = nn.Embedding(2, dims)
        self.pos = nn.Embedding(MAX_LEN, dims)
        self.blocks = nn.TransformerEncoder(layers, dims, heads, mlp_dims=4 * dims, norm_first=True)
        self.head = nn.Linear(dims, MAX_DEPTH + 1)

    def __call__(self, x):
        L = x.shape[1]
        h = self.tok(x) + self.pos(mx.arange(L))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        return self.head(self.blocks(h, mask))


def xent(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def main():
    mx.random.seed(11)
    rng = np.random.default_rng(11)
    model = DepthTagger()
    mx.eval(model.parameters())

    total = sum(s for _, _, s in STAGES)
    warm = 40
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, total - warm, 2e-4)],
        [warm],
    )
    opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)

    # one-off audit: every trainable tensor must receive gradient
    ax, ay = bracket_strings(rng, 16, 8)
    _, g = nn.value_and_grad(model, xent)(model, ax, ay)
    flat = nn.utils.tree_flatten(g)
    dead = [k for k, v in flat if mx.abs(v).max().item() == 0.0]
    print(json.dumps({"audit": "grad", "tensors": len(flat), "zero_grad": dead}))

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, grads = nn.value_and_grad(model, xent)(model, x, y)
        opt.update(model, grads)
        return loss

    t0 = time.perf_counter()
    for name, length, steps in STAGES:
        vx, vy = bracket_strings(np.random.default_rng(100 + length), 256, length)
        majority = float(mx.mean(vy == 1).item())  # most common depth guess
        for k in range(1, steps + 1):
            x, y = bracket_strings(rng, 32, length)
            loss = step(x, y)
            mx.eval(state, loss)
            if k == 1 or k % 40 == 0 or k == steps:
                pred = mx.argmax(model(vx), axis=-1)
                acc = float(mx.mean(pred == vy).item())
                print(json.dumps({
                    "stage": name, "step": k, "lr": round(float(opt.learning_rate.item()), 6),
                    "xent": round(loss.item(), 4), "val_xent": round(xent(model, vx, vy).item(), 4),
                    "depth_acc_pct": round(100 * acc, 1), "always_depth1_pct": round(100 * majority, 1),
                }))
    print(json.dumps({"done": True, "wall_s": round(time.perf_counter() - t0, 1)}))


if __name__ == "__main__":
    main()
