"""Tea-leaf grading: a big "master taster" net is trained first, then a tiny "apprentice"
net that must run on the sorting machine learns from the master's soft grades
(knowledge distillation, temperature 3) plus a little of the hard labels.

Grades: 0 dust, 1 fannings, 2 broken, 3 whole leaf.  Features: 7 measurements of a
leaf sample (moisture, polyphenols, caffeine, leaf length, curl, colour a*, aroma index).

Master: nn.Module MLP 7-128-128-4 trained with SGD+momentum, silent while it trains.
Apprentice: 7-12-4, trained with a hand-written Adagrad (tree_map) on
    T^2 * KL(master_T || apprentice_T) + 0.25 * CE(labels)
The master is frozen and its logits are wrapped in stop_gradient.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

T = 3.0
ALPHA_HARD = 0.25


def pick_leaves(n, rng):
    grade = rng.integers(0, 4, size=n)
    length = 2.0 + 9.0 * grade / 3.0 + rng.normal(0, 1.6, n)
    curl = 0.2 + 0.18 * grade + rng.normal(0, 0.12, n)
    moisture = rng.normal(4.5, 0.8, n) - 0.15 * grade
    polyphenol = 14 + 2.5 * np.sin(grade * 1.3) + rng.normal(0, 1.4, n)
    caffeine = 3.2 - 0.25 * grade + rng.normal(0, 0.35, n)
    colour = -2 + 0.9 * (grade == 2) + 0.6 * (grade == 3) + rng.normal(0, 0.7, n)
    aroma = 0.5 * length * curl + rng.normal(0, 0.9, n)
    x = np.stack([moisture, polyphenol, caffeine, length, curl, colour, aroma], axis=1)
    # 7% of the samples are mislabelled by the human grader
    flip = rng.random(n) < 0.07
    grade = np.where(flip, rng.integers(0, 4, size=n), grade)
    return x.astype(np.float32), grade.astype(np.int32)


class MLP(nn.Module):
    def __init__(self, sizes):
        super().__init__()
        self.layers = [nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])]

    def __call__(self, x):
        for layer in self.layers[:-1]:
            x = nn.gelu(layer(x))
        return self.layers[-1](x)


def error_pct(model, x, y):
    return 100.0 * (mx.argmax(model(x), axis=1) != y).astype(mx.float32).mean().item()


def train_master(x, y, epochs=12, batch=64):
    master = MLP([7, 128, 128, 4])
    opt = optim.SGD(learning_rate=0.05, momentum=0.9)

    def loss_fn(m, xb, yb):
        return nn.losses.cross_entropy(m(xb), yb, reduction="mean")

    step = nn.value_and_grad(master, loss_fn)
    rng = np.random.default_rng(5)
    n = x.shape[0]
    for _ in range(epochs):
        order = rng.permutation(n)
        for s in range(0, n - batch + 1, batch):
            idx = mx.array(order[s : s + batch])
            loss, g = step(master, x[idx], y[idx])
            opt.update(master, g)
            mx.eval(master.parameters(), opt.state, loss)
    return master


class HandAdagrad:
    """Adagrad written out by hand: acc += g^2 ; p -= lr * g / (sqrt(acc) + eps)."""

    def __init__(self, params, lr=0.08, eps=1e-8):
        self.lr = lr
        self.eps = eps
        self.acc = tree_map(lambda p: mx.zeros_like(p), params)

    def step(self, params, grads):
        self.acc = tree_map(lambda a, g: a + g * g, self.acc, grads)
        return tree_map(
            lambda p, g, a: p - self.lr * g / (mx.sqrt(a) + self.eps), params, grads, self.acc
        )


def kd_loss(apprentice, xb, yb, master_logits):
    s = apprentice(xb)
    t = mx.stop_gradient(master_logits)
    log_p_t = t / T - mx.logsumexp(t / T, axis=1, keepdims=True)
    log_p_s = s / T - mx.logsumexp(s / T, axis=1, keepdims=True)
    kl = (mx.exp(log_p_t) * (log_p_t - log_p_s)).sum(axis=1).mean()
    hard = nn.losses.cross_entropy(s, yb, reduction="mean")
    return T * T * kl + ALPHA_HARD * hard, kl


def main():
    t_start = time.time()
    rng = np.random.default_rng(31)
    xtr, ytr = pick_leaves(16000, rng)
    xte, yte = pick_leaves(4000, rng)
    mu, sd = xtr.mean(0), xtr.std(0)
    xtr, xte = (xtr - mu) / sd, (xte - mu) / sd
    xtr, ytr, xte, yte = map(mx.array, (xtr, ytr, xte, yte))
    print(f"tea samples: train {xtr.shape[0]}  test {xte.shape[0]}  grades 4  label noise 7%")

    mx.random.seed(1)
    master = train_master(xtr, ytr)
    master.freeze()
    master.eval()
    master_test_err = error_pct(master, xte, yte)
    print(f"master taster trained in {time.time() - t_start:.1f}s: test error {master_test_err:.2f}%"
          f"  ({sum(v.size for _, v in tree_flatten(master.parameters()))} weights, now frozen)")

    # master logits for the whole training set, computed once
    master_logits_tr = master(xtr)
    master_pred_te = mx.argmax(master(xte), axis=1)
    mx.eval(master_logits_tr, master_pred_te)

    apprentice = MLP([7, 12, 4])
    opt = HandAdagrad(apprentice.trainable_parameters(), lr=0.08)
    vg = nn.value_and_grad(apprentice, kd_loss)

    first = vg(apprentice, xtr[:128], ytr[:128], master_logits_tr[:128])[1]
    leaves = tree_flatten(first)
    zero = [k for k, g in leaves if mx.all(g == 0).item()]
    print(f"apprentice: {sum(v.size for _, v in tree_flatten(apprentice.parameters()))} weights,"
          f" {len(leaves)} gradient leaves at step 1, all-zero: {zero if zero else 'none'}")

    header = f"{'epoch':>5} | {'kd_loss':>8} | {'kl_T3':>7} | {'test_err%':>9} | {'disagree%':>9} | {'secs':>5}"
    print(header)
    print("-" * len(header))
    def row(ep, loss_avg, kl_avg, t0):
        err = error_pct(apprentice, xte, yte)
        dis = 100.0 * (mx.argmax(apprentice(xte), axis=1) != master_pred_te).astype(mx.float32).mean().item()
        ls = f"{loss_avg:8.4f}" if loss_avg is not None else f"{'-':>8}"
        ks = f"{kl_avg:7.4f}" if kl_avg is not None else f"{'-':>7}"
        print(f"{ep:>5} | {ls} | {ks} | {err:9.2f} | {dis:9.2f} | {time.time() - t0:5.1f}")

    row(0, None, None, time.time())
    batch = 128
    n = xtr.shape[0]
    order_rng = np.random.default_rng(8)
    for epoch in range(1, 21):
        t0 = time.time()
        order = order_rng.permutation(n)
        tot = tot_kl = 0.0
        steps = 0
        for s in range(0, n - batch + 1, batch):
            idx = mx.array(order[s : s + batch])
            (loss, kl), grads = vg(apprentice, xtr[idx], ytr[idx], master_logits_tr[idx])
            apprentice.update(opt.step(apprentice.trainable_parameters(), grads))
            mx.eval(apprentice.parameters(), opt.acc, loss, kl)
            tot += loss.item()
            tot_kl += kl.item()
            steps += 1
        if epoch in (1, 2, 3, 5) or epoch % 5 == 0:
            row(epoch, tot / steps, tot_kl / steps, t0)

    print(f"done in {time.time() - t_start:.1f}s: apprentice test error {error_pct(apprentice, xte, yte):.2f}%"
          f" vs master {master_test_err:.2f}% (grader noise alone costs ~5%)")


if __name__ == "__main__":
    main()
