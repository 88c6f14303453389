"""Sourdough starter lab: pretrain a trunk, checkpoint it, resume and fit a new head.

Phase 1 regresses the peak rise (% of volume) of a starter feeding from 7
synthetic readings, saves the weights to a temp dir. Phase 2 starts a fresh
process-like setup: rebuilds the model, loads its own checkpoint, freezes the
trunk on purpose and trains only a new 'ready to bake' classifier head with a
hand-written Adagrad (learning rate warmed up from exactly 0).
Nothing is printed while training; each phase prints a markdown table at its end.
"""
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map, tree_unflatten

FEATS = ["flour_ratio", "water_temp", "room_temp", "hours_since_feed",
         "rye_share", "log_age_days", "salt_ppm"]


def make_data(n, rng):
    x = rng.normal(size=(n, len(FEATS))).astype(np.float32)
    activity = (1.2 * np.tanh(x[:, 1] + 0.5 * x[:, 2]) + 0.8 * x[:, 4]
                - 0.6 * x[:, 6] ** 2 + 0.5 * np.sin(2 * x[:, 3]) + 0.4 * x[:, 5])
    rise = 120 + 35 * activity + rng.normal(0, 6, n)
    ready = (activity + 0.3 * x[:, 3] + rng.normal(0, 0.25, n) > 0.4).astype(np.int32)
    return x, rise.astype(np.float32), ready


class Trunk(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(len(FEATS), 48)
        self.fc2 = nn.Linear(48, 48)

    def __call__(self, x):
        return nn.gelu(self.fc2(nn.gelu(self.fc1(x))))


class StarterNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = Trunk()
        self.rise_head = nn.Linear(48, 1)
        self.ready_head = nn.Linear(48, 2)

    def __call__(self, x):
        h = self.trunk(x)
        return self.rise_head(h).squeeze(-1), self.ready_head(h)


def batches(n, bs, rng):
    perm = rng.permutation(n)
    for i in range(0, n - bs + 1, bs):
        yield mx.array(perm[i:i + bs])


def table(title, header, rows):
    print(f"\n### {title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


def phase1(xtr, ytr, xva, yva, ckpt, rng):
    mu, sd = float(ytr.mean()), float(ytr.std())
    model = StarterNet()
    model.ready_head.freeze()  # not part of phase 1
    opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)
    X, Y = mx.array(xtr), mx.array((ytr - mu) / sd)
    Xv = mx.array(xva)

    def loss_fn(m, xb, yb):
        pred, _ = m(xb)
        return nn.losses.mse_loss(pred, yb)

    step = nn.value_and_grad(model, loss_fn)
    rows = []
    for epoch in range(1, 13):
        tot, nb = 0.0, 0
        for idx in batches(len(xtr), 128, rng):
            loss, grads = step(model, X[idx], Y[idx])
            if epoch == 1 and nb == 0:
                flat = tree_flatten(grads)
                zero = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
                rows.append(["grad check", f"{len(flat)} leaves", f"zero: {zero or 'none'}", ""])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            nb += 1
        if epoch in (1, 2, 4, 8, 12):
            pv, _ = model(Xv)
            rmse = float(np.sqrt(np.mean((np.array(pv) * sd + mu - yva) ** 2)))
            rows.append([str(epoch), f"{tot / nb:.4f}", f"{rmse:.2f} pts", ""])
    model.save_weights(ckpt)
    rows.append(["saved", os.path.basename(ckpt), f"{os.path.getsize(ckpt)} bytes", ""])
    table("phase 1: peak rise regression (train MSE is standardised)",
          ["epoch", "train mse", "val rmse (rise pts)", ""], rows)
    return model


def phase2(xtr, rtr, xva, rva, ckpt, rng, reference):
    model = StarterNet()
    model.load_weights(ckpt)  # strict: every key must match
    same = all(mx.array_equal(a, b).item() for (_, a), (_, b) in
               zip(tree_flatten(model.trunk.parameters()),
                   tree_flatten(reference.trunk.parameters())))
    model.freeze()
    model.ready_head.unfreeze()
    trunk_before = tree_map(lambda p: mx.array(p), model.trunk.parameters())

    def loss_fn(m, xb, yb):
        _, logits = m(xb)
        return nn.losses.cross_entropy(logits, yb, reduction="mean")

    step = nn.value_and_grad(model, loss_fn)
    X, Y = mx.array(xtr), mx.array(rtr)
    Xv, Yv = mx.array(xva), mx.array(rva)
    warm, peak, total = 60, 0.05, 0
    accum = tree_map(lambda p: mx.zeros_like(p), model.trainable_parameters())
    rows = [["resume", "trunk identical" if same else "TRUNK DIFFERS",
             f"trainable leaves: {len(tree_flatten(model.trainable_parameters()))}", ""]]
    for epoch in range(1, 11):
        tot, nb = 0.0, 0
        for idx in batches(len(xtr), 64, rng):
            lr = peak * min(1.0, total / warm)  # exactly 0 at the first step
            loss, grads = step(model, X[idx], Y[idx])
            if total == 0:
                flat = tree_flatten(grads)
                nz = sum(float(mx.abs(g).max()) > 0 for _, g in flat)
                rows.append(["grad check", f"{nz}/{len(flat)} head leaves non-zero", f"lr={lr:g}", ""])
            # hand-written Adagrad over the flattened trainable tree
            g_flat, a_flat = tree_flatten(grads), tree_flatten(accum)
            p_flat = tree_flatten(model.trainable_parameters())
            new_a, new_p = [], []
            for (k, g), (_, a), (_, p) in zip(g_flat, a_flat, p_flat):
                a = a + g * g
                new_a.append((k, a))
                new_p.append((k, p - lr * g / (mx.sqrt(a) + 1e-8)))
            accum = tree_unflatten(new_a)
            model.update(tree_unflatten(new_p))
            mx.eval(model.parameters(), accum, loss)
            tot += loss.item()
            nb += 1
            total += 1
        if epoch in (1, 2, 3, 5, 10):
            _, lv = model(Xv)
            acc = float(mx.mean(mx.argmax(lv, -1) == Yv).item())
            vce = float(nn.losses.cross_entropy(lv, Yv, reduction="mean").item())
            rows.append([str(epoch), f"{tot / nb:.4f}", f"{vce:.4f}", f"{100 * acc:.1f} %"])
    drift = max(float(mx.abs(a - b).max()) for (_, a), (_, b) in
                zip(tree_flatten(model.trunk.parameters()), tree_flatten(trunk_before)))
    rows.append(["trunk drift", f"{drift:.1e}", "", ""])
    table("phase 2: ready-to-bake head on the frozen, resumed trunk",
          ["epoch", "train ce", "val ce", "val accuracy"], rows)


def main():
    t0 = time.time()
    rng = np.random.default_rng(3)
    mx.random.seed(3)
    x, rise, ready = make_data(9000, rng)
    xtr, xva = x[:7500], x[7500:]
    print(f"starters: {len(xtr)} train / {len(xva)} val, ready share {ready.mean():.2f}")
    with tempfile.TemporaryDirectory() as d:
        ckpt = os.path.join(d, "starter_trunk.safetensors")
        ref = phase1(xtr, rise[:7500], xva, rise[7500:], ckpt, rng)
        phase2(xtr, ready[:7500], xva, ready[7500:], ckpt, rng, ref)
    print(f"\ndone in {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
