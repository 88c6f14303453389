"""Read a 4-band resistor: three colour bands -> resistance (regressed as log10 ohms).

Colour code: band1 = first digit (1..9), band2 = second digit (0..9), band3 = multiplier 10**k (k 0..9).
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

COLOURS = ["black", "brown", "red", "orange", "yellow", "green", "blue", "violet", "grey", "white"]


def si(ohms):
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if ohms >= scale:
            return f"{ohms / scale:.3g}{unit}"
    return f"{ohms:.3g}"


class BandReader(nn.Module):
    def __init__(self, emb=12, hidden=96):
        super().__init__()
        self.bands = [nn.Embedding(10, emb) for _ in range(3)]
        self.norm = nn.RMSNorm(3 * emb)
        self.fc1 = nn.Linear(3 * emb, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 1)

    def __call__(self, codes):
        h = mx.concatenate([e(codes[:, i]) for i, e in enumerate(self.bands)], axis=-1)
        h = nn.gelu(self.fc1(self.norm(h)))
        h = nn.gelu(self.fc2(h))
        return self.out(h).squeeze(-1)


def loss_fn(model, codes, target):
    return nn.losses.mse_loss(model(codes), target)


def main():
    np.random.seed(7)
    mx.random.seed(7)
    codes = np.array([(a, b, k) for a in range(1, 10) for b in range(10) for k in range(10)], dtype=np.int32)
    log_ohm = np.log10(10 * codes[:, 0] + codes[:, 1]) + codes[:, 2]
    perm = np.random.permutation(len(codes))
    tr, va = perm[:720], perm[720:]
    Xtr, ytr = mx.array(codes[tr]), mx.array(log_ohm[tr].astype(np.float32))
    Xva, yva = mx.array(codes[va]), mx.array(log_ohm[va].astype(np.float32))

    model = BandReader()
    mx.eval(model.parameters())
    sched = optim.cosine_decay(3e-3, 80 * 24, 1e-4)
    opt = optim.Adafactor(learning_rate=sched, relative_step=False, scale_parameter=False, beta_1=0.9)
    step = nn.value_and_grad(model, loss_fn)

    _, g0 = step(model, Xtr[:30], ytr[:30])
    leaves = tree_flatten(g0)
    dead = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
    print(f"# {len(leaves)} parameter tensors, {sum(v.size for _, v in tree_flatten(model.parameters()))} weights,"
          f" zero-gradient tensors at step 1: {dead if dead else 'none'}")
    print(f"# predict-the-mean baseline: val MAE {float(np.abs(log_ohm[va] - log_ohm[tr].mean()).mean()):.3f} decades")

    t0 = time.time()
    for epoch in range(1, 81):
        order = np.random.permutation(len(tr))
        run = []
        for i in range(0, len(order), 30):
            idx = mx.array(order[i:i + 30])
            loss, grads = step(model, Xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run.append(loss.item())
        if epoch % 10 == 0 or epoch == 1:
            pred = model(Xva)
            err = mx.abs(pred - yva)
            within5 = float((mx.abs(10 ** (pred - yva) - 1) < 0.05).mean())
            print(f"DMM  epoch {epoch:02d}  train mse {np.mean(run):.4f} dec^2  |  val MAE {err.mean().item():.4f} dec"
                  f"  |  within 5% tolerance {100 * within5:5.1f}%  |  {time.time() - t0:4.1f}s")

    print("\n band colours                 true        read")
    pred = np.array(model(Xva[:6]))
    for (a, b, k), p in zip(codes[va[:6]], pred):
        true = (10 * a + b) * 10.0 ** k
        print(f" {COLOURS[a]:>6}-{COLOURS[b]:<6}-{COLOURS[k]:<7}  {si(true):>8} ohm  {si(10 ** float(p)):>8} ohm")


if __name__ == "__main__":
    main()
