"""Dyehouse vat log: three targets from one shared trunk.

colour depth (K/S, regression), wash fastness grade (poor/fair/good) and
dye bleeding in the first rinse (yes/no), predicted from seven vat readings.
Task weights are balanced with GradNorm (Chen et al. 2018, alpha=0.5) on the
last shared layer. The run is split in two halves with a checkpoint written
to disk and read back into freshly built objects in between.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(266)
mx.random.seed(266)


def make_vats(n):
    ph = rng.uniform(3.5, 11.0, n)
    temp = rng.uniform(40, 98, n)
    dwell = rng.uniform(10, 90, n)
    mordant = rng.uniform(0, 12, n)
    fibre = rng.integers(0, 3, n)            # 0 cotton, 1 wool, 2 silk
    hardness = rng.uniform(20, 300, n)
    dips = rng.integers(1, 6, n)
    uptake = (1 - np.exp(-dwell / 35)) * (temp / 98) ** 1.4
    ks = (4.0 * uptake * (1 + 0.35 * dips) * (1 + 0.25 * (fibre == 1))
          - 0.004 * hardness + 0.12 * mordant - 0.08 * (ph - 7.0) ** 2)
    ks = ks + rng.normal(0, 0.35, n)
    score = 0.45 * mordant - 0.012 * hardness + 1.2 * uptake + 0.6 * (fibre == 2) - 1.5
    score = score + rng.logistic(0, 0.8, n)
    grade = np.digitize(score, [-0.8, 1.2])
    bleed_logit = 1.1 * dips - 0.35 * mordant + 0.025 * (temp - 70) - 1.8
    bleed = (rng.random(n) < 1 / (1 + np.exp(-bleed_logit))).astype(np.float32)
    x = np.stack([(ph - 7) / 2.2, (temp - 69) / 17, (dwell - 50) / 23,
                  (mordant - 6) / 3.5, fibre - 1.0, (hardness - 160) / 80,
                  (dips - 3) / 1.4], 1).astype(np.float32)
    return x, ks.astype(np.float32), grade.astype(np.int32), bleed


Xtr, KStr, Gtr, Btr = make_vats(6000)
Xva, KSva, Gva, Bva = make_vats(1200)
ks_mu, ks_sd = float(KStr.mean()), float(KStr.std())
Xtr_m, Xva_m = mx.array(Xtr), mx.array(Xva)
Ytr = (mx.array((KStr - ks_mu) / ks_sd), mx.array(Gtr), mx.array(Btr))
Yva_ks, Yva_g, Yva_b = mx.array(KSva), mx.array(Gva), mx.array(Bva)


class VatNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(7, 64)
        self.shared = nn.Linear(64, 64)      # GradNorm watches this layer
        self.depth = nn.Linear(64, 1)
        self.fast = nn.Linear(64, 3)
        self.bleed = nn.Linear(64, 1)

    def pre(self, x):
        return nn.silu(self.inp(x))

    def heads(self, z):
        return self.depth(z).squeeze(-1), self.fast(z), self.bleed(z).squeeze(-1)

    def __call__(self, x):
        return self.heads(nn.silu(self.shared(self.pre(x))))


def task_losses(outs, y):
    d, f, b = outs
    l_depth = mx.mean((d - y[0]) ** 2)
    l_fast = mx.mean(nn.losses.cross_entropy(f, y[1]))
    l_bleed = mx.mean(nn.losses.binary_cross_entropy(b, y[2], with_logits=True))
    return mx.stack([l_depth, l_fast, l_bleed])


def weighted_total(model, x, y, w):
    parts = task_losses(model(x), y)
    return mx.sum(w * parts), parts


def shared_grad_norms(model, x, y):
    """Norm of dL_i/dW for the last shared layer, one per task."""
    h = mx.stop_gradient(model.pre(x))
    norms = []
    for i in range(3):
        def li(W, b):
            z = nn.silu(h @ W.T + b)
            return task_losses(model.heads(z), y)[i]
        gW, gb = mx.grad(li, argnums=(0, 1))(model.shared.weight, model.shared.bias)
        norms.append(mx.sqrt(mx.sum(gW * gW) + mx.sum(gb * gb)))
    return mx.stack(norms)


def gradnorm_objective(w, g, target):
    return mx.sum(mx.abs(w * g - target))


ALPHA = 0.5
EPOCHS, BATCH = 12, 100
STEPS_PER_EPOCH = 6000 // BATCH
TOTAL = EPOCHS * STEPS_PER_EPOCH
WARM = 240


def build():
    model = VatNet()
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, WARM),
         optim.cosine_decay(3e-3, TOTAL - WARM, 1e-4)], [WARM])
    opt = optim.Adam(learning_rate=sched)
    wopt = optim.Adam(learning_rate=0.004)
    return model, opt, wopt


def evaluate(model):
    d, f, b = model(Xva_m)
    ks_pred = d * ks_sd + ks_mu
    rmse = mx.sqrt(mx.mean((ks_pred - Yva_ks) ** 2)).item()
    acc = mx.mean(mx.argmax(f, -1) == Yva_g).item() * 100
    pb = mx.sigmoid(b)
    brier = mx.mean((pb - Yva_b) ** 2).item()
    bacc = mx.mean((pb > 0.5) == (Yva_b > 0.5)).item() * 100
    return rmse, acc, brier, bacc


def run_epochs(model, opt, wopt, state, first, last, t0):
    loss_and_grad = nn.value_and_grad(model, weighted_total)
    wgrad = mx.grad(gradnorm_objective)
    for epoch in range(first, last + 1):
        perm = mx.array(rng.permutation(6000))
        sums = np.zeros(5)
        for s in range(STEPS_PER_EPOCH):
            idx = perm[s * BATCH:(s + 1) * BATCH]
            xb = Xtr_m[idx]
            yb = tuple(t[idx] for t in Ytr)
            w = state["w"]
            (tot, parts), grads = loss_and_grad(model, xb, yb, w)
            g = shared_grad_norms(model, xb, yb)
            if state["L0"] is None:
                state["L0"] = mx.array(parts)
                mx.eval(state["L0"])
            ratio = parts / state["L0"]
            r = ratio / mx.mean(ratio)
            target = mx.stop_gradient(mx.mean(w * g) * r ** ALPHA)
            gn = gradnorm_objective(w, g, target)
            dw = wgrad(w, g, target)
            if state["first_step"]:
                leaves = tree_flatten(grads)
                nz = sum(1 for _, v in leaves if mx.any(v != 0).item())
                print(f"  step-1 audit: {nz}/{len(leaves)} parameter leaves with nonzero grad,"
                      f" lr at first update {opt.learning_rate.item():.1f},"
                      f" shared-layer grad norms {'/'.join(f'{v:.3f}' for v in g.tolist())}")
                state["first_step"] = False
            opt.update(model, grads)
            new_w = wopt.apply_gradients({"w": dw}, {"w": w})["w"]
            new_w = mx.maximum(new_w, 0.02)
            state["w"] = 3.0 * new_w / mx.sum(new_w)
            mx.eval(model.parameters(), opt.state, wopt.state, state["w"], tot, parts, gn)
            sums += np.array([tot.item(), *parts.tolist(), gn.item()])
        m = sums / STEPS_PER_EPOCH
        if epoch in (1, 2, 4, 6, 8, 10, 12):
            rmse, acc, brier, bacc = evaluate(model)
            wl = "/".join(f"{v:.3f}" for v in state["w"].tolist())
            print(f"epoch {epoch:2d}  lr {opt.learning_rate.item():.2e}  {time.time() - t0:5.1f}s")
            print(f"  ├─ weighted total {m[0]:.4f}   gradnorm loss {m[4]:.4f}   weights d/f/b {wl}")
            print(f"  ├─ depth   mse {m[1]:.4f} (std units)   val rmse {rmse:.3f} K/S")
            print(f"  ├─ fast    ce  {m[2]:.4f}   val accuracy {acc:.1f}%")
            print(f"  └─ bleed   bce {m[3]:.4f}   val brier {brier:.4f}   val accuracy {bacc:.1f}%")


def save_ckpt(path, model, opt, wopt, state):
    model.save_weights(os.path.join(path, "model.safetensors"))
    mx.savez(os.path.join(path, "opt.npz"), **dict(tree_flatten(opt.state)))
    mx.savez(os.path.join(path, "wopt.npz"), **dict(tree_flatten(wopt.state)))
    mx.savez(os.path.join(path, "balance.npz"), w=state["w"], L0=state["L0"])


def load_ckpt(path):
    model, opt, wopt = build()
    model.load_weights(os.path.join(path, "model.safetensors"))
    opt.state = tree_unflatten(list(mx.load(os.path.join(path, "opt.npz")).items()))
    wopt.state = tree_unflatten(list(mx.load(os.path.join(path, "wopt.npz")).items()))
    bal = mx.load(os.path.join(path, "balance.npz"))
    state = {"w": bal["w"], "L0": bal["L0"], "first_step": False}
    return model, opt, wopt, state


def main():
    t0 = time.time()
    print(f"dyehouse vats: train 6000, val 1200, K/S mean {ks_mu:.2f} sd {ks_sd:.2f},"
          f" grade shares {np.bincount(Gtr, minlength=3) / 6000}, bleed rate {Btr.mean():.3f}")
    base_rmse = float(np.sqrt(np.mean((KSva - ks_mu) ** 2)))
    base_acc = 100 * np.mean(Gva == np.bincount(Gtr).argmax())
    base_brier = float(np.mean((Btr.mean() - Bva) ** 2))
    print(f"reference (no model): K/S rmse {base_rmse:.3f}, majority grade {base_acc:.1f}%,"
          f" constant-rate brier {base_brier:.4f}; vat noise sd 0.35 K/S")
    model, opt, wopt = build()
    state = {"w": mx.ones((3,)), "L0": None, "first_step": True}
    rmse, acc, brier, bacc = evaluate(model)
    print(f"untrained: rmse {rmse:.3f} K/S, grade acc {acc:.1f}%, bleed brier {brier:.4f}")
    run_epochs(model, opt, wopt, state, 1, 6, t0)
    with tempfile.TemporaryDirectory() as ck:
        save_ckpt(ck, model, opt, wopt, state)
        before = evaluate(model)
        del model, opt, wopt
        model, opt, wopt, state = load_ckpt(ck)
        after = evaluate(model)
        print(f"checkpoint written and read back at step {opt.state['step'].item()}:"
              f" val rmse {before[0]:.4f} -> {after[0]:.4f}, weights {'/'.join(f'{v:.3f}' for v in state['w'].tolist())}")
    run_epochs(model, opt, wopt, state, 7, 12, t0)
    rmse, acc, brier, bacc = evaluate(model)
    print(f"done: rmse {rmse:.3f} K/S (ref {base_rmse:.3f}), grade {acc:.1f}% (ref {base_acc:.1f}%),"
          f" bleed brier {brier:.4f} (ref {base_brier:.4f}), final lr {opt.learning_rate.item():.2e},"
          f" {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
