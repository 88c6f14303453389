# Radio-survey candidate sifting: 4-way class (pulsar / RFI / noise / single burst)
# from 32 synthetic fold and dedispersion features. The classifier is a sparse MLP
# trained with RigL (Evci et al. 2020): constant per-layer density, and every
# UPDATE_EVERY steps the weakest active weights are dropped and the same number of
# inactive weights with the largest dense gradient are regrown (starting at 0).
# A dense net and a static random-sparse net are trained alongside as references.
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(3)
CLASSES = ["pulsar", "rfi", "noise", "burst"]
D, H, C = 32, 96, 4


def make_split(n):
    z = rng.normal(size=(n, 6))
    periodic = (z[:, 0] * z[:, 1] > 0).astype(int)
    dispersed = (z[:, 2] + 0.5 * z[:, 3] ** 2 > 0.5).astype(int)
    y = 2 * dispersed + periodic
    flip = rng.random(n) < 0.04
    y[flip] = rng.integers(0, C, size=int(flip.sum()))
    mix = np.random.default_rng(99).normal(size=(6, D)) / math.sqrt(6)
    x = np.tanh(z @ mix) + 0.3 * np.sin(z[:, :1] * z[:, 1:2]) + rng.normal(size=(n, D)) * 0.2
    return x.astype(np.float32), y.astype(np.int32)


xtr, ytr = make_split(12000)
xte, yte = make_split(3000)
mu, sd = xtr.mean(0), xtr.std(0)
Xtr, Ytr = mx.array((xtr - mu) / sd), mx.array(ytr)
Xte, Yte = mx.array((xte - mu) / sd), mx.array(yte)
majority = float(np.mean(yte == np.bincount(ytr).argmax()))

STEPS, BATCH, WARMUP, PEAK_LR = 2000, 128, 150, 3e-3
UPDATE_EVERY, ALPHA, T_END = 100, 0.3, int(0.75 * 2000)
DENSITY = {"l1": 0.5, "l2": 0.15, "l3": 0.6}


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(D, H)
        self.l2 = nn.Linear(H, H)
        self.l3 = nn.Linear(H, C)

    def __call__(self, x):
        return self.l3(nn.relu(self.l2(nn.relu(self.l1(x)))))


def lr_schedule():
    return optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK_LR, WARMUP), optim.cosine_decay(PEAK_LR, STEPS - WARMUP, 1e-5)],
        [WARMUP],
    )


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def accuracy(model, x, y):
    return float((model(x).argmax(-1) == y).mean().item())


def random_masks(model, seed):
    r = np.random.default_rng(seed)
    masks = {}
    for name, dens in DENSITY.items():
        w = getattr(model, name).weight
        k = int(round(dens * w.size))
        flat = np.zeros(w.size, dtype=np.float32)
        flat[r.choice(w.size, size=k, replace=False)] = 1.0
        masks[name] = mx.array(flat.reshape(w.shape))
    return masks


def apply_masks(model, masks):
    for name, m in masks.items():
        layer = getattr(model, name)
        layer.weight = layer.weight * m


def drop_fraction(step):
    return ALPHA / 2 * (1 + math.cos(math.pi * step / T_END))


def rigl_update(model, opt, masks, grads, step):
    """Drop the smallest active weights, regrow where the dense gradient is largest."""
    frac = drop_fraction(step)
    changed = 0
    for name, m in masks.items():
        layer = getattr(model, name)
        w = np.array(layer.weight)
        g = np.abs(np.array(grads[name]["weight"]))
        mk = np.array(m).astype(bool)
        n_active = int(mk.sum())
        k = int(frac * n_active)
        if k == 0:
            continue
        active_idx = np.flatnonzero(mk)
        drop = active_idx[np.argsort(np.abs(w.ravel()[active_idx]))[:k]]
        new = mk.ravel().copy()
        new[drop] = False
        cand = np.flatnonzero(~new)
        cand = cand[~np.isin(cand, drop)]
        grow = cand[np.argsort(-g.ravel()[cand])[:k]]
        new[grow] = True
        new = new.reshape(mk.shape)
        changed += int((new != mk).sum()) // 2
        masks[name] = mx.array(new.astype(np.float32))
        grown = mx.array(np.isin(np.arange(w.size), grow).reshape(w.shape))
        # regrown connections start from zero with fresh Adam moments
        layer.weight = mx.where(grown, 0.0, layer.weight) * masks[name]
        st = opt.state[name]["weight"]
        st["m"] = mx.where(grown, 0.0, st["m"])
        st["v"] = mx.where(grown, 0.0, st["v"])
    return changed


def train(kind, seed):
    mx.random.seed(seed)
    model = MLP()
    opt = optim.Adam(learning_rate=lr_schedule())
    masks = random_masks(model, seed) if kind != "dense" else None
    if masks:
        apply_masks(model, masks)
    vg = nn.value_and_grad(model, loss_fn)
    order = np.random.default_rng(seed)
    perm, pos = order.permutation(len(ytr)), 0
    t0 = time.perf_counter()
    for step in range(STEPS):
        if pos + BATCH > len(ytr):
            perm, pos = order.permutation(len(ytr)), 0
        idx = mx.array(perm[pos : pos + BATCH])
        pos += BATCH
        loss, grads = vg(model, Xtr[idx], Ytr[idx])
        note = ""
        if kind == "rigl" and step % UPDATE_EVERY == 0 and 0 < step < T_END:
            changed = rigl_update(model, opt, masks, grads, step)
            note = f"  regrew {changed} links (drop frac {drop_fraction(step):.3f})"
        if masks:
            grads = {n: {**grads[n], "weight": grads[n]["weight"] * masks[n]} for n in grads}
        opt.update(model, grads)
        if masks:
            apply_masks(model, masks)
        mx.eval(model.parameters(), opt.state, loss)
        if kind == "rigl" and ((step + 1) % 200 == 0 or note):
            nnz = sum(int(m.sum().item()) for m in masks.values())
            print(
                f"[rigl] step {step + 1:4d}  lr {opt.learning_rate.item():.5f}  loss {loss.item():.4f}  "
                f"test_acc {accuracy(model, Xte, Yte):.4f}  active {nnz}{note}"
            )
    total = sum(getattr(model, n).weight.size for n in ("l1", "l2", "l3"))
    nnz = total if masks is None else sum(int((getattr(model, n).weight != 0).sum().item()) for n in masks)
    return accuracy(model, Xte, Yte), nnz, total, time.perf_counter() - t0


print(f"classes {CLASSES}; train {len(ytr)}, test {len(yte)}; majority-class test acc {majority:.4f}")
print(f"weight densities {DENSITY}; RigL every {UPDATE_EVERY} steps until step {T_END}")
res = {}
for kind in ("rigl", "static", "dense"):
    res[kind] = train(kind, seed=5)
    acc, nnz, total, secs = res[kind]
    print(f"{kind:6s} done: test_acc {acc:.4f}  nonzero weights {nnz}/{total} ({nnz / total:.1%})  {secs:.1f}s")
print(
    "summary  test_acc: rigl {:.4f}  static-sparse {:.4f}  dense {:.4f}  majority {:.4f}".format(
        res["rigl"][0], res["static"][0], res["dense"][0], majority
    )
)
