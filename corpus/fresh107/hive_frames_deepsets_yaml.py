"""Apiary: weekly honey gain of a hive from the variable-size set of its frame inspections.

Deep Sets (per-frame phi, masked sum pooling, rho), a size curriculum (small hives first),
and a hand-written momentum SGD over trainable_parameters() with a warm-up from lr 0.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map

MAX_FRAMES = 10
rng = np.random.default_rng(11)


def make_hives(n):
    k = rng.integers(2, MAX_FRAMES + 1, n)
    feats = np.zeros((n, MAX_FRAMES, 4), np.float32)
    mask = np.zeros((n, MAX_FRAMES), np.float32)
    gain = np.zeros(n, np.float32)
    for i in range(n):
        brood = rng.beta(2, 3, k[i])
        capped = rng.beta(2, 4, k[i])
        pollen = rng.beta(1.5, 6, k[i])
        cover = rng.beta(4, 2, k[i])
        feats[i, :k[i]] = np.stack([brood, capped, pollen, cover], 1)
        mask[i, :k[i]] = 1.0
        per_frame = 0.9 * cover * (1 - brood) + 0.5 * np.sqrt(pollen) + 0.3 * capped * cover
        gain[i] = per_frame.sum() - 0.15 * brood.sum() ** 2 / k[i] + rng.normal(0, 0.12)
    return feats, mask, gain, k


F_tr, M_tr, y_tr, k_tr = make_hives(9000)
F_va, M_va, y_va, k_va = make_hives(1500)
y_mu, y_sd = float(y_tr.mean()), float(y_tr.std())

Fv, Mv = mx.array(F_va), mx.array(M_va)
yv = mx.array((y_va - y_mu) / y_sd)


class HiveSet(nn.Module):
    def __init__(self, d_in=4, h=48):
        super().__init__()
        self.phi1 = nn.Linear(d_in, h)
        self.phi2 = nn.Linear(h, h)
        self.rho1 = nn.Linear(h + 1, h)
        self.rho2 = nn.Linear(h, 1)

    def __call__(self, frames, mask):
        z = nn.silu(self.phi2(nn.silu(self.phi1(frames))))
        z = mx.where(mask[..., None] > 0, z, 0.0).sum(axis=1)
        n = mask.sum(axis=1, keepdims=True) / MAX_FRAMES
        return self.rho2(nn.silu(self.rho1(mx.concatenate([z, n], axis=1)))).squeeze(-1)


def loss_fn(model, f, m, y):
    return ((model(f, m) - y) ** 2).mean()


class MomentumSGD:
    def __init__(self, peak_lr, warmup, momentum=0.9):
        self.peak_lr, self.warmup, self.mu = peak_lr, warmup, momentum
        self.buf = None
        self.t = 0

    def lr(self):
        return self.peak_lr * min(1.0, self.t / self.warmup)

    def apply(self, model, grads):
        if self.buf is None:
            self.buf = tree_map(mx.zeros_like, grads)
        self.buf = tree_map(lambda b, g: self.mu * b + g, self.buf, grads)
        lr = self.lr()
        new = tree_map(lambda p, b: p - lr * b, model.trainable_parameters(), self.buf)
        model.update(new)
        self.t += 1


def emit(doc):
    print("---")
    for k, v in doc.items():
        if isinstance(v, dict):
            print(f"{k}:")
            for kk, vv in v.items():
                print(f"  {kk}: {vv}")
        else:
            print(f"{k}: {v}")


mx.random.seed(3)
model = HiveSet()
opt = MomentumSGD(peak_lr=0.02, warmup=150)
vg = nn.value_and_grad(model, loss_fn)
CURRICULUM = [(4, 3), (7, 3), (MAX_FRAMES, 6)]  # (max frames allowed, epochs)
BS = 64

emit({"apiary": "weekly honey gain, Deep Sets over frame inspections",
      "hives": {"train": len(y_tr), "valid": len(y_va)},
      "gain_kg": {"mean": round(y_mu, 3), "sd": round(y_sd, 3)},
      "noise_floor_std_mse": round((0.12 / y_sd) ** 2, 4),
      "valid_mse_std_untrained": round(loss_fn(model, Fv, Mv, yv).item(), 4)})

epoch = 0
t0 = time.perf_counter()
checked = False
for stage, (kmax, n_ep) in enumerate(CURRICULUM, 1):
    pool = np.nonzero(k_tr <= kmax)[0]
    Fs, Ms = mx.array(F_tr[pool]), mx.array(M_tr[pool])
    ys = mx.array((y_tr[pool] - y_mu) / y_sd)
    for _ in range(n_ep):
        epoch += 1
        perm = np.random.default_rng(epoch).permutation(len(pool))
        tot, nb = 0.0, 0
        for s in range(0, len(pool) - BS + 1, BS):
            idx = mx.array(perm[s:s + BS])
            loss, g = vg(model, Fs[idx], Ms[idx], ys[idx])
            if not checked:
                leaves = tree_flatten(g)
                zero = [k for k, v in leaves if mx.abs(v).max().item() == 0.0]
                emit({"gradient_check": {"leaves": len(leaves), "zero_leaves": zero or "none",
                                         "lr_first_update": opt.lr()}})
                checked = True
            opt.apply(model, g)
            mx.eval(model.parameters(), opt.buf, loss)
            tot += loss.item()
            nb += 1
        va = loss_fn(model, Fv, Mv, yv).item()
        pred = np.array(model(Fv, Mv)) * y_sd + y_mu
        per_size = {f"frames_{lo}_{hi}": round(float(np.abs(pred - y_va)[(k_va >= lo) & (k_va <= hi)].mean()), 3)
                    for lo, hi in [(2, 4), (5, 7), (8, 10)]}
        emit({"epoch": epoch, "stage": stage, "max_frames": kmax, "train_hives": len(pool),
              "lr": round(opt.lr(), 5),
              "train_mse_std": round(tot / nb, 4), "valid_mse_std_all_sizes": round(va, 4),
              "valid_mae_kg": per_size, "elapsed_s": round(time.perf_counter() - t0, 1)})

emit({"done": True, "updates": opt.t,
      "valid_rmse_kg": round(float(np.sqrt(loss_fn(model, Fv, Mv, yv).item()) * y_sd), 3)})
