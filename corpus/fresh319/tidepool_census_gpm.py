"""Tidepool census: organism-group triage at three survey sites, learned one site
after another (task-incremental, one head per site) with Gradient Projection Memory.

After each site the trunk's layer inputs are summarised by an SVD basis; later sites
only move the trunk weights in directions orthogonal to those bases.  The run is saved
after site 2 and resumed into a fresh model before site 3.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SEED = 7
N_FEAT, N_LAT, N_CLS = 10, 4, 3
N_TRAIN, N_TEST = 3000, 1000
STEPS, BATCH, WARMUP = 600, 64, 80
PEAK_LR = 0.05
THRESH = [0.97, 0.973, 0.976]
SITES = ["north reef", "kelp shelf", "harbour wall"]

rng = np.random.default_rng(SEED)
mx.random.seed(SEED)


def make_site(k):
    mix = rng.normal(size=(N_LAT, N_FEAT)) / np.sqrt(N_LAT)
    rule = rng.normal(size=(N_LAT, N_CLS))
    shift = rng.normal(size=N_FEAT) * 0.5

    def draw(n):
        z = rng.normal(size=(n, N_LAT))
        x = np.tanh(z) @ mix * 2.0 + shift + 0.05 * rng.normal(size=(n, N_FEAT))
        score = np.sin(z) @ rule + 0.15 * z @ rule
        y = score.argmax(axis=1)
        return x.astype(np.float32), y.astype(np.int32)

    xtr, ytr = draw(N_TRAIN)
    xte, yte = draw(N_TEST)
    return xtr, ytr, xte, yte


DATA = [make_site(k) for k in range(len(SITES))]


class Census(nn.Module):
    def __init__(self, n_heads):
        super().__init__()
        self.fc1 = nn.Linear(N_FEAT, 64, bias=False)
        self.fc2 = nn.Linear(64, 64, bias=False)
        self.heads = [nn.Linear(64, N_CLS) for _ in range(n_heads)]

    def trunk(self, x):
        h1 = nn.relu(self.fc1(x))
        h2 = nn.relu(self.fc2(h1))
        return x, h1, h2

    def __call__(self, x, t):
        return self.heads[t](self.trunk(x)[2])


def loss_fn(model, x, y, t):
    return nn.losses.cross_entropy(model(x, t), y, reduction="mean")


def accuracy(model, t):
    _, _, xte, yte = DATA[t]
    pred = mx.argmax(model(mx.array(xte), t), axis=1)
    return float(mx.mean(pred == mx.array(yte)).item())


def update_bases(model, t, bases):
    """Grow the protected input subspace of fc1 and fc2 with site t's activations."""
    xtr = DATA[t][0][:600]
    x0, h1, _ = model.trunk(mx.array(xtr))
    reps = {"fc1": np.array(x0).T, "fc2": np.array(h1).T}  # (in_dim, n)
    for name, r in reps.items():
        total = float((r ** 2).sum())
        old = bases.get(name)
        if old is None:
            u, s, _ = np.linalg.svd(r, full_matrices=False)
            energy = np.cumsum(s ** 2) / total
            k = int(np.searchsorted(energy, THRESH[t]) + 1)
            bases[name] = u[:, :k]
        else:
            r_hat = r - old @ (old.T @ r)
            u, s, _ = np.linalg.svd(r_hat, full_matrices=False)
            acc = (total - float((s ** 2).sum())) / total
            k = 0
            for sv in s ** 2:
                if acc >= THRESH[t]:
                    break
                acc += sv / total
                k += 1
            if k > 0:
                merged = np.concatenate([old, u[:, :k]], axis=1)
                q, _ = np.linalg.qr(merged)
                bases[name] = q[:, : merged.shape[1]]
    return bases


def project(grads, proj):
    for name, p in proj.items():
        g = grads[name]["weight"]  # (out, in)
        grads[name]["weight"] = g - (g @ p)
    return grads


def lr_at(step):
    if step < WARMUP:
        return PEAK_LR * step / WARMUP
    frac = (step - WARMUP) / (STEPS - WARMUP)
    return PEAK_LR * 0.5 * (1.0 + np.cos(np.pi * frac))


def train_site(model, t, bases):
    xtr, ytr, _, _ = DATA[t]
    opt = optim.SGD(learning_rate=0.0, momentum=0.9)
    proj = {k: mx.array((v @ v.T).astype(np.float32)) for k, v in bases.items()}
    vg = nn.value_and_grad(model, loss_fn)
    run = 0.0
    for step in range(STEPS):
        opt.learning_rate = lr_at(step)
        idx = rng.integers(0, N_TRAIN, size=BATCH)
        loss, grads = vg(model, mx.array(xtr[idx]), mx.array(ytr[idx]), t)
        if proj:
            grads = project(grads, proj)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        run = 0.9 * run + 0.1 * loss.item() if step else loss.item()
        if step % 100 == 0 or step == STEPS - 1:
            print(f"  site {t + 1} step {step:4d}  lr {lr_at(step):.4f}  loss {run:.4f}")


def save_run(path, model, bases, acc_rows):
    flat = dict(tree_flatten(model.parameters()))
    for k, v in bases.items():
        flat[f"basis.{k}"] = mx.array(v.astype(np.float32))
    flat["acc_rows"] = mx.array(np.array(acc_rows, dtype=np.float32))
    mx.savez(path, **flat)


def load_run(path):
    blob = mx.load(path)
    model = Census(len(SITES))
    params = [(k, v) for k, v in blob.items() if not (k.startswith("basis.") or k == "acc_rows")]
    model.update(tree_unflatten(params))
    bases = {k.split(".", 1)[1]: np.array(v).astype(np.float64)
             for k, v in blob.items() if k.startswith("basis.")}
    acc_rows = np.array(blob["acc_rows"]).tolist()
    return model, bases, acc_rows


def main():
    t0 = time.time()
    model = Census(len(SITES))
    mx.eval(model.parameters())
    bases, acc_rows = {}, []
    ckpt = os.path.join(tempfile.mkdtemp(), "after_site2.npz")
    print(f"chance accuracy per site: {1.0 / N_CLS:.3f}")
    for t in range(len(SITES)):
        if t == 2:
            save_run(ckpt, model, bases, acc_rows)
            before = [accuracy(model, j) for j in range(2)]
            model, bases, acc_rows = load_run(ckpt)
            after = [accuracy(model, j) for j in range(2)]
            print(f"resumed from {os.path.basename(ckpt)}: site acc before save "
                  f"{before[0]:.3f}/{before[1]:.3f}, after load {after[0]:.3f}/{after[1]:.3f}")
        free = {k: 1.0 - v.shape[1] / v.shape[0] for k, v in bases.items()}
        print(f"== {SITES[t]} (site {t + 1}); free input dims "
              + ", ".join(f"{k} {f:.2f}" for k, f in free.items()) if free else
              f"== {SITES[t]} (site {t + 1}); all input dims free")
        train_site(model, t, bases)
        row = [accuracy(model, j) for j in range(len(SITES))]
        acc_rows.append(row)
        print("  acc after site %d: " % (t + 1) +
              "  ".join(f"s{j + 1} {row[j]:.3f}" if j <= t else f"s{j + 1}   -  " for j in range(len(SITES))))
        bases = update_bases(model, t, bases)
        print("  basis sizes: " + ", ".join(f"{k} {v.shape[1]}/{v.shape[0]}" for k, v in bases.items()))
    acc = np.array(acc_rows)
    avg = acc[-1].mean()
    bwt = np.mean([acc[-1, j] - acc[j, j] for j in range(len(SITES) - 1)])
    print(f"final average accuracy {avg:.3f} (chance {1.0 / N_CLS:.3f})")
    print(f"backward transfer {bwt:+.3f}")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
