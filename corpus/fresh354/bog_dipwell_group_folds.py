"""Raised-bog dipwells: classify next-month water-table band (deep / mid / shallow).

Leave-sites-out cross-validation: the 12 bog sites are grouped into 4 folds, so a
site's dipwells are never in train and test at once. Each fold builds a fresh
network, trains with SGD + Nesterov momentum under a cosine schedule with warm
restarts (the learning rate jumps back up every cycle), keeps the weights with the
best inner-validation balanced accuracy, and stops after 4 evaluations without
improvement. At step 150 of fold 0 the run is checkpointed to disk, all objects
are thrown away and training resumes from the files, as after a preemption.
"""
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SITES = 12
WELLS_PER_SITE = 60
GROUP_FOLDS = 4
CYCLE = 120
MAX_STEPS = 720
EVAL_EVERY = 60
PATIENCE = 4
CKPT_STEP = 150
LR_MAX, LR_MIN = 0.05, 0.002
BATCH = 64


def make_data(seed=3):
    rng = np.random.default_rng(seed)
    rows, labels, site_ids = [], [], []
    for s in range(SITES):
        site_offset = rng.normal(0, 0.35)
        for _ in range(WELLS_PER_SITE):
            rain = rng.gamma(3.0, 25.0)
            evap = rng.uniform(10, 90)
            drain_dist = rng.uniform(5, 200)
            sphagnum = rng.uniform(0, 1)
            slope = rng.uniform(0, 4)
            last_depth = rng.normal(-25, 10)
            score = (0.02 * (rain - 75) - 0.025 * (evap - 50) + 0.006 * (drain_dist - 100)
                     + 1.2 * (sphagnum - 0.5) - 0.25 * (slope - 2) + 0.06 * (last_depth + 25)
                     + site_offset + rng.normal(0, 0.45))
            band = 0 if score < -0.55 else (1 if score < 0.55 else 2)
            rows.append([rain, evap, drain_dist, sphagnum, slope, last_depth])
            labels.append(band)
            site_ids.append(s)
    return (np.array(rows, np.float32), np.array(labels, np.int32), np.array(site_ids))


class DipwellNet(nn.Module):
    def __init__(self, d_in, hidden=48, classes=3):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(),
                                  nn.Linear(hidden, hidden), nn.ReLU())
        self.head = nn.Linear(hidden, classes)

    def __call__(self, x):
        return self.head(self.body(x))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def balanced_accuracy(model, x, y):
    pred = np.array(mx.argmax(model(mx.array(x)), axis=-1))
    recalls = [np.mean(pred[y == c] == c) for c in range(3) if np.any(y == c)]
    return float(np.mean(recalls))


def sgdr_lr(step):
    t = (step % CYCLE) / CYCLE
    return LR_MIN + 0.5 * (LR_MAX - LR_MIN) * (1 + math.cos(math.pi * t))


def build(d_in, seed):
    mx.random.seed(seed)
    model = DipwellNet(d_in)
    mx.eval(model.parameters())
    opt = optim.SGD(learning_rate=LR_MAX, momentum=0.9, nesterov=True)
    return model, opt


def save_checkpoint(folder, model, opt, meta):
    model.save_weights(os.path.join(folder, "model.safetensors"))
    mx.save_safetensors(os.path.join(folder, "opt.safetensors"),
                        dict(tree_flatten(opt.state)))
    np.savez(os.path.join(folder, "meta.npz"), **meta)


def load_checkpoint(folder, d_in):
    model, opt = build(d_in, seed=0)
    model.load_weights(os.path.join(folder, "model.safetensors"))
    opt.state = tree_unflatten(list(mx.load(os.path.join(folder, "opt.safetensors")).items()))
    meta = dict(np.load(os.path.join(folder, "meta.npz")))
    return model, opt, meta


def run_fold(k, xtr, ytr, xva, yva, seed, ckpt_dir=None):
    model, opt = build(xtr.shape[1], seed)
    rng = np.random.default_rng(seed)
    best_acc, best_step, stale = -1.0, 0, 0
    best_weights = None
    step = 0
    resumed = False
    while step < MAX_STEPS:
        opt.learning_rate = sgdr_lr(step)
        idx = rng.choice(len(xtr), size=BATCH, replace=False)
        loss, grads = nn.value_and_grad(model, loss_fn)(model, mx.array(xtr[idx]), mx.array(ytr[idx]))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        step += 1
        if step % EVAL_EVERY == 0:
            acc = balanced_accuracy(model, xva, yva)
            marker = ""
            if acc > best_acc + 1e-4:
                best_acc, best_step, stale = acc, step, 0
                best_weights = [(n, mx.array(p)) for n, p in tree_flatten(model.parameters())]
                marker = " *"
            else:
                stale += 1
            print(f"  fold {k} step {step:4d} lr={opt.learning_rate.item():.4f} "
                  f"train_ce={loss.item():.4f} val_bal_acc={acc:.3f}{marker}")
            if stale >= PATIENCE:
                print(f"  fold {k}: no gain for {PATIENCE} evaluations, stopping at step {step}")
                break
        if ckpt_dir is not None and not resumed and step == CKPT_STEP:
            save_checkpoint(ckpt_dir, model, opt, {"step": step, "best_acc": best_acc,
                                                   "best_step": best_step, "stale": stale})
            mx.save_safetensors(os.path.join(ckpt_dir, "best.safetensors"), dict(best_weights))
            state = rng.bit_generator.state
            del model, opt
            model, opt, meta = load_checkpoint(ckpt_dir, xtr.shape[1])
            best_weights = list(mx.load(os.path.join(ckpt_dir, "best.safetensors")).items())
            step, best_acc = int(meta["step"]), float(meta["best_acc"])
            best_step, stale = int(meta["best_step"]), int(meta["stale"])
            rng = np.random.default_rng()
            rng.bit_generator.state = state
            resumed = True
            print(f"  fold {k}: checkpointed and resumed at step {step}")
    model.load_weights(best_weights)
    return model, best_acc, best_step


def main():
    t0 = time.time()
    X, y, site = make_data()
    print(f"dipwells: {len(X)} from {SITES} sites, class shares "
          f"{np.bincount(y, minlength=3) / len(y)}")
    site_order = np.random.default_rng(5).permutation(SITES)
    site_folds = np.array_split(site_order, GROUP_FOLDS)
    scores = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, test_sites in enumerate(site_folds):
            test_mask = np.isin(site, test_sites)
            rest_sites = [int(s) for s in site_order if s not in test_sites]
            val_sites = [rest_sites[(2 * k) % len(rest_sites)], rest_sites[(2 * k + 1) % len(rest_sites)]]
            val_mask = np.isin(site, val_sites)
            train_mask = ~(test_mask | val_mask)
            mu, sd = X[train_mask].mean(0), X[train_mask].std(0) + 1e-6
            norm = lambda a: (a - mu) / sd
            print(f"fold {k}: test sites {sorted(test_sites.tolist())}, val sites {sorted(val_sites)}")
            model, best_acc, best_step = run_fold(
                k, norm(X[train_mask]), y[train_mask], norm(X[val_mask]), y[val_mask],
                seed=40 + k, ckpt_dir=tmp if k == 0 else None)
            test_acc = balanced_accuracy(model, norm(X[test_mask]), y[test_mask])
            majority = np.bincount(y[train_mask], minlength=3).argmax()
            base = np.mean([np.mean(y[test_mask][y[test_mask] == c] == majority)
                            for c in range(3) if np.any(y[test_mask] == c)])
            print(f"fold {k}: best step {best_step}, val_bal_acc={best_acc:.3f}, "
                  f"test_bal_acc={test_acc:.3f} (majority-class baseline {base:.3f})")
            scores.append((test_acc, base))
    s = np.array(scores)
    print(f"leave-sites-out: balanced accuracy {s[:,0].mean():.3f} ± {s[:,0].std():.3f} "
          f"vs baseline {s[:,1].mean():.3f}")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
