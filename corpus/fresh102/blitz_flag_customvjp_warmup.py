"""Blitz chess: will the player on move lose on time ("flag")?

Features: the player's and the opponent's remaining clock at the last 10 moves (seconds),
increment, rating difference and move number. A small MLP outputs a logit.

Loss: binary cross-entropy through a log-sigmoid written as an mx.custom_function with its
own VJP (stable for large |logit|). Optimiser: hand-written SGD with momentum over the
parameter tree; the learning rate warms up linearly from exactly 0, then decays (cosine).
Logged as JSON lines; the training loss is a bias-corrected exponential moving average.
"""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_map, tree_flatten


@mx.custom_function
def log_sigmoid(z):
    # log(sigmoid(z)) = -softplus(-z) = min(z, 0) - log1p(exp(-|z|))
    return mx.minimum(z, 0.0) - mx.log1p(mx.exp(-mx.abs(z)))


@log_sigmoid.vjp
def log_sigmoid_vjp(primals, cotangent, output):
    z = primals                              # a single input arrives as the array itself
    return cotangent * mx.sigmoid(-z)        # d/dz log sigmoid(z) = 1 - sigmoid(z)


def bce_with_logits(logit, y):
    return -(y * log_sigmoid(logit) + (1.0 - y) * log_sigmoid(-logit)).mean()


def simulate_games(n, rng, moves=10):
    base = rng.choice([180.0, 300.0], n)                # 3+0 / 5+0 style starts
    inc = rng.choice([0.0, 2.0, 3.0], n)
    start_move = rng.integers(20, 60, n)
    pace_me = rng.lognormal(np.log(4.0), 0.45, n)       # s per move
    pace_op = rng.lognormal(np.log(4.0), 0.45, n)
    clocks_me, clocks_op = [], []
    t_me = base * rng.uniform(0.15, 0.7, n)
    t_op = base * rng.uniform(0.15, 0.7, n)
    for _ in range(moves):
        t_me = np.maximum(t_me - rng.exponential(pace_me) + inc, 0.5)
        t_op = np.maximum(t_op - rng.exponential(pace_op) + inc, 0.5)
        clocks_me.append(t_me.copy())
        clocks_op.append(t_op.copy())
    clocks_me = np.stack(clocks_me, 1)
    clocks_op = np.stack(clocks_op, 1)
    rating_diff = rng.normal(0, 150, n)
    remaining_moves = np.maximum(70 - start_move - moves, 5) * rng.uniform(0.5, 1.2, n)
    burn = (clocks_me[:, 0] - clocks_me[:, -1]) / moves - inc      # net s lost per move
    need = remaining_moves * np.maximum(burn, 0.3)
    margin = (clocks_me[:, -1] - need) / 20.0 + rating_diff / 400.0 \
        - 0.4 * (clocks_op[:, -1] > clocks_me[:, -1])
    p_flag = 1.0 / (1.0 + np.exp(2.5 * margin))
    y = (rng.uniform(size=n) < p_flag).astype(np.float32)
    x = np.concatenate([np.log1p(clocks_me), np.log1p(clocks_op),
                        np.stack([inc / 3.0, rating_diff / 200.0, start_move / 40.0], 1)], 1)
    return x.astype(np.float32), y


class FlagNet(nn.Module):
    def __init__(self, d_in=23, hidden=64):
        super().__init__()
        self.inp = nn.Linear(d_in, hidden)
        self.ln = nn.LayerNorm(hidden)
        self.mid = nn.Linear(hidden, 32)
        self.head = nn.Linear(32, 1)

    def __call__(self, x):
        h = nn.silu(self.ln(self.inp(x)))
        h = nn.silu(self.mid(h))
        return self.head(h).squeeze(-1)


def loss_fn(model, x, y):
    return bce_with_logits(model(x), y)


def auc(scores, labels):
    order = np.argsort(scores)
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    pos = labels == 1
    n_pos, n_neg = pos.sum(), (~pos).sum()
    return (ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def lr_at(step, peak=0.05, warmup=150, total=1500):
    if step < warmup:
        return peak * step / warmup                 # step 0 -> lr 0
    frac = (step - warmup) / max(1, total - warmup)
    return peak * 0.5 * (1.0 + math.cos(math.pi * frac))


def main():
    t0 = time.time()
    rng = np.random.default_rng(2024)
    xtr, ytr = simulate_games(12000, rng)
    xva, yva = simulate_games(3000, rng)
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
    xtr, xva = (xtr - mu) / sd, (xva - mu) / sd
    xtr_m, ytr_m, xva_m = mx.array(xtr), mx.array(ytr), mx.array(xva)

    # sanity check of the custom VJP against MLX's own BCE
    z = mx.array([-30.0, -2.0, 0.0, 1.5, 40.0])
    t = mx.array([1.0, 0.0, 1.0, 1.0, 0.0])
    ref = nn.losses.binary_cross_entropy(z, t, with_logits=True, reduction="mean")
    g_ours = mx.grad(lambda a: bce_with_logits(a, t))(z)
    g_ref = mx.grad(lambda a: nn.losses.binary_cross_entropy(a, t, with_logits=True,
                                                             reduction="mean"))(z)
    print(json.dumps({"event": "vjp_check",
                      "loss_diff": abs(bce_with_logits(z, t).item() - ref.item()),
                      "grad_max_diff": mx.abs(g_ours - g_ref).max().item()}))

    mx.random.seed(11)
    model = FlagNet(d_in=xtr.shape[1])
    mx.eval(model.parameters())
    velocity = tree_map(mx.zeros_like, model.trainable_parameters())
    grad_fn = nn.value_and_grad(model, loss_fn)
    momentum, batch, total_steps = 0.9, 128, 1500
    ema, beta = 0.0, 0.98
    print(json.dumps({"event": "start", "train": len(ytr), "val": len(yva),
                      "flag_rate": round(float(ytr.mean()), 4),
                      "params": sum(v.size for _, v in tree_flatten(model.trainable_parameters()))}))
    for step in range(total_steps):
        idx = mx.array(rng.integers(0, len(ytr), batch))
        loss, grads = grad_fn(model, xtr_m[idx], ytr_m[idx])
        lr = lr_at(step, total=total_steps)
        velocity = tree_map(lambda v, g: momentum * v + g, velocity, grads)
        model.update(tree_map(lambda p, v: p - lr * v, model.trainable_parameters(), velocity))
        mx.eval(model.parameters(), velocity, loss)
        ema = beta * ema + (1 - beta) * loss.item()
        if (step + 1) % 100 == 0:
            rec = {"step": step + 1, "lr": round(lr, 5),
                   "ema_loss": round(ema / (1 - beta ** (step + 1)), 4)}
            if (step + 1) % 300 == 0:
                scores = np.array(model(xva_m))
                rec["val_auc"] = round(float(auc(scores, yva)), 4)
                rec["val_bce"] = round(bce_with_logits(mx.array(scores), mx.array(yva)).item(), 4)
            print(json.dumps(rec))
    print(json.dumps({"event": "done", "seconds": round(time.time() - t0, 1)}))


if __name__ == "__main__":
    main()
