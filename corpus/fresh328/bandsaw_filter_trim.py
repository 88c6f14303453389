"""Band-saw blade condition (sound / dull / cracked) from 64-sample vibration +
motor-current traces.  Dense Conv1d net, then L1-norm filter pruning with the
smaller net rebuilt physically, then a short fine-tune of the trimmed net."""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

T = 64
CLASSES = ["sound", "dull", "cracked"]


def make_traces(n, rng):
    y = rng.integers(0, 3, n)
    t = np.arange(T)
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    tooth = rng.uniform(0.55, 0.75, (n, 1))
    vib = np.sin(tooth * t + phase)
    vib += np.where(y[:, None] == 1, 0.45, 0.0) * np.sin(2 * tooth * t + 2 * phase)
    vib += rng.normal(0, 0.35, (n, T)) * np.where(y[:, None] == 1, 1.4, 1.0)
    start = rng.integers(0, 16, n)
    for i in np.where(y == 2)[0]:
        vib[i, start[i]::16] += rng.uniform(1.2, 2.0)
    cur = 1.0 + 0.1 * np.sin(0.05 * t + phase) + rng.normal(0, 0.08, (n, T))
    cur += np.where(y[:, None] == 1, 0.12, 0.0)
    x = np.stack([vib, cur - 1.0], axis=-1).astype(np.float32)
    flip = rng.random(n) < 0.03
    y = np.where(flip, rng.integers(0, 3, n), y)
    return mx.array(x), mx.array(y.astype(np.int32))


class SawNet(nn.Module):
    def __init__(self, c1=24, c2=24):
        super().__init__()
        self.conv1 = nn.Conv1d(2, c1, kernel_size=5, padding=2)
        self.conv2 = nn.Conv1d(c1, c2, kernel_size=5, padding=2)
        self.head = nn.Linear(c2, 3)

    def __call__(self, x):
        h = nn.silu(self.conv1(x))
        h = nn.silu(self.conv2(h))
        return self.head(h.mean(axis=1))


def n_params(model):
    return sum(v.size for _, v in tree_flatten(model.trainable_parameters()))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def evaluate(model, x, y):
    logits = model(x)
    ce = nn.losses.cross_entropy(logits, y, reduction="mean").item()
    acc = (mx.argmax(logits, axis=1) == y).mean().item()
    return ce, acc


def run_epochs(model, opt, x, y, epochs, rng, bs=64, on_epoch=None):
    step = nn.value_and_grad(model, loss_fn)
    for ep in range(1, epochs + 1):
        perm = rng.permutation(x.shape[0])
        tot, nb = 0.0, 0
        for i in range(0, len(perm), bs):
            idx = mx.array(perm[i:i + bs])
            loss, g = step(model, x[idx], y[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            nb += 1
        if on_epoch is not None:
            on_epoch(ep, tot / nb)


def trim(dense, keep1, keep2):
    """L1-norm filter ranking; copy the kept slices into a physically smaller net."""
    w1 = np.array(dense.conv1.weight)          # (c1, k, 2)
    w2 = np.array(dense.conv2.weight)          # (c2, k, c1)
    s1 = np.abs(w1).sum(axis=(1, 2))
    k1 = np.sort(np.argsort(-s1)[:keep1])
    w2_in = w2[:, :, k1]
    s2 = np.abs(w2_in).sum(axis=(1, 2))
    k2 = np.sort(np.argsort(-s2)[:keep2])
    small = SawNet(keep1, keep2)
    small.conv1.weight = mx.array(w1[k1])
    small.conv1.bias = mx.array(np.array(dense.conv1.bias)[k1])
    small.conv2.weight = mx.array(w2_in[k2])
    small.conv2.bias = mx.array(np.array(dense.conv2.bias)[k2])
    small.head.weight = mx.array(np.array(dense.head.weight)[:, k2])
    small.head.bias = dense.head.bias
    mx.eval(small.parameters())
    return small, s1, s2


def main():
    t0 = time.perf_counter()
    mx.random.seed(3)
    rng = np.random.default_rng(3)
    x_tr, y_tr = make_traces(4800, rng)
    x_va, y_va = make_traces(1200, rng)
    counts = np.bincount(np.array(y_tr), minlength=3)
    print(f"[saw] traces train={x_tr.shape[0]} valid={x_va.shape[0]} len={T} "
          f"classes={'/'.join(CLASSES)} counts={counts.tolist()} "
          f"majority_acc={counts.max() / counts.sum():.3f}")

    dense = SawNet()
    ce0, acc0 = evaluate(dense, x_va, y_va)
    print(f"[saw] dense params={n_params(dense)} untrained valid_ce={ce0:.3f} acc={acc0:.3f}")
    g = nn.value_and_grad(dense, loss_fn)(dense, x_tr[:64], y_tr[:64])[1]
    leaves = tree_flatten(g)
    nz = sum(1 for _, v in leaves if mx.abs(v).max().item() > 0)
    print(f"[saw] first-batch gradient: {nz}/{len(leaves)} arrays non-zero")

    # dense phase: quiet, one summary line at the end
    opt = optim.AdamW(learning_rate=3e-3, weight_decay=1e-4)
    hist = []
    run_epochs(dense, opt, x_tr, y_tr, 8, rng, on_epoch=lambda ep, l: hist.append(l))
    ce_d, acc_d = evaluate(dense, x_va, y_va)
    print(f"[saw] dense 8 epochs done: train_ce {hist[0]:.3f} -> {hist[-1]:.3f}  "
          f"valid_ce={ce_d:.3f} acc={acc_d:.3f}  ({time.perf_counter() - t0:.1f}s)")

    small, s1, s2 = trim(dense, keep1=10, keep2=8)
    ce_c, acc_c = evaluate(small, x_va, y_va)
    print(f"[saw] trim: conv1 24->10 filters (L1 kept >= {np.sort(s1)[-10]:.2f}), "
          f"conv2 24->8 filters; params {n_params(dense)} -> {n_params(small)}; "
          f"valid_ce right after trim={ce_c:.3f} acc={acc_c:.3f}")

    # fine-tune the trimmed net: warm-up from exactly 0 over 75 steps, then cosine down
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, 75), optim.cosine_decay(2e-3, 450, 2e-4)], [75])
    opt2 = optim.Adam(learning_rate=sched)

    def report(ep, l):
        ce, acc = evaluate(small, x_va, y_va)
        lr = opt2.learning_rate.item()
        print(f"[saw] trimmed ep {ep}  lr={lr:.2e}  train_ce={l:.3f}  valid_ce={ce:.3f}  "
              f"acc={acc:.3f}  (dense ref acc={acc_d:.3f})")

    run_epochs(small, opt2, x_tr, y_tr, 7, rng, on_epoch=report)
    ce_f, acc_f = evaluate(small, x_va, y_va)
    print(f"[saw] final trimmed params={n_params(small)} ({100 * n_params(small) / n_params(dense):.1f}% of dense) "
          f"valid_acc={acc_f:.3f} vs dense {acc_d:.3f} vs majority "
          f"{counts.max() / counts.sum():.3f}  total {time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":
    main()
