"""Seismograph network: robust 3-way event typing with PGD adversarial training.

Each event is 10 synthetic waveform summary features (P/S amplitude ratio,
corner frequency, depth proxy, duration, spectral slopes...) from one of
three sources: tectonic quake, quarry blast, cultural noise.  The classifier
is trained on projected-gradient-descent (L-inf, 5 steps) perturbed inputs,
with the attack radius ramped linearly from exactly 0 to 0.35 over stage 1
and held in stage 2.  Stage 2 resumes from a checkpoint written at the end
of stage 1 (weights + optimizer state, reloaded into fresh objects).

The reported training loss is measured on perturbed inputs, so it climbs
while the radius grows; clean / robust accuracy are printed beside the
majority-class baseline.
"""
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

D = 10
CLASSES = 3
EPS_MAX = 0.35
PGD_STEPS = 5
BATCH = 128
STAGE1, STAGE2 = 6, 5


def make_events(n, rng):
    y = rng.choice(CLASSES, size=n, p=[0.45, 0.30, 0.25])
    centers = np.array([
        [1.2, -0.4, 1.0, 0.6, -0.8, 0.3, 0.0, 0.5, -0.2, 0.1],
        [-0.6, 0.9, -1.1, -0.3, 0.4, 0.8, 0.2, -0.4, 0.6, -0.3],
        [-0.3, -0.6, 0.2, -0.9, 0.5, -0.9, -0.3, 0.1, -0.6, 0.4],
    ])
    x = centers[y] + 0.75 * rng.standard_normal((n, D))
    return x.astype(np.float32), y.astype(np.int32)


class EventNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(D, 96)
        self.l2 = nn.Linear(96, 96)
        self.out = nn.Linear(96, CLASSES)

    def __call__(self, x):
        return self.out(nn.relu(self.l2(nn.relu(self.l1(x)))))


def xent(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def pgd(model, x, y, eps):
    if eps == 0.0:
        return x
    alpha = 2.5 * eps / PGD_STEPS
    grad_x = mx.grad(lambda xx: xent(model, xx, y))
    delta = mx.random.uniform(-eps, eps, x.shape)
    for _ in range(PGD_STEPS):
        g = grad_x(x + delta)
        delta = mx.clip(delta + alpha * mx.sign(g), -eps, eps)
    return mx.stop_gradient(x + delta)


def accuracy(model, x, y):
    return float(mx.mean(mx.argmax(model(x), axis=1) == y).item())


def run_stage(model, opt, xtr, ytr, xva, yva, rng, epochs, eps_fn, first_epoch, step0):
    vg = nn.value_and_grad(model, xent)
    n = xtr.shape[0]
    spe = n // BATCH
    step = step0
    for ep in range(first_epoch, first_epoch + epochs):
        perm = mx.array(rng.permutation(n))
        tot = 0.0
        for b in range(spe):
            idx = perm[b * BATCH:(b + 1) * BATCH]
            x, y = xtr[idx], ytr[idx]
            eps = eps_fn(step)
            xa = pgd(model, x, y, eps)
            loss, g = vg(model, xa, y)
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state)
            tot += loss.item()
            step += 1
        clean = accuracy(model, xva, yva)
        robust = accuracy(model, pgd(model, xva, yva, EPS_MAX), yva)
        print(f"epoch {ep:2d} | eps {eps:.3f} | adv train loss {tot / spe:.4f} | clean acc {clean:.3f} "
              f"| robust acc @{EPS_MAX} {robust:.3f}")
    return step


def save_ckpt(path, model, opt, step):
    mx.savez(path + "_model.npz", **dict(tree_flatten(model.parameters())))
    state = dict(tree_flatten(opt.state))
    mx.savez(path + "_opt.npz", **state)
    with open(path + "_step.txt", "w") as f:
        f.write(str(step))


def load_ckpt(path, model, opt):
    model.update(tree_unflatten(list(mx.load(path + "_model.npz").items())))
    opt.init(model.trainable_parameters())
    opt.state = tree_unflatten(list(mx.load(path + "_opt.npz").items()))
    with open(path + "_step.txt") as f:
        return int(f.read())


def main():
    rng = np.random.default_rng(31)
    mx.random.seed(31)
    xtr, ytr = make_events(8000, rng)
    xva, yva = make_events(2000, rng)
    mu, sd = xtr.mean(0), xtr.std(0)
    xtr, xva = mx.array((xtr - mu) / sd), mx.array((xva - mu) / sd)
    ytr, yva = mx.array(ytr), mx.array(yva)
    base = max(float(mx.mean(yva == c).item()) for c in range(CLASSES))
    print(f"events: train {xtr.shape[0]}, val {xva.shape[0]}; majority-class baseline acc {base:.3f}")

    spe = xtr.shape[0] // BATCH
    ramp = STAGE1 * spe
    eps_fn = lambda s: EPS_MAX * min(1.0, s / ramp)
    model = EventNet()
    opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-3)
    mx.eval(model.parameters())
    t0 = time.time()
    print("stage 1: radius ramp 0 -> %.2f" % EPS_MAX)
    step = run_stage(model, opt, xtr, ytr, xva, yva, rng, STAGE1, eps_fn, 1, 0)

    ckpt = os.path.join(tempfile.mkdtemp(), "seismo")
    save_ckpt(ckpt, model, opt, step)
    print(f"checkpoint written at step {step}; reloading into a fresh model")
    model = EventNet()
    opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-3)
    step = load_ckpt(ckpt, model, opt)
    print(f"resumed at step {step}, clean acc {accuracy(model, xva, yva):.3f}")

    print("stage 2: radius held at %.2f" % EPS_MAX)
    run_stage(model, opt, xtr, ytr, xva, yva, rng, STAGE2, eps_fn, STAGE1 + 1, step)
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
