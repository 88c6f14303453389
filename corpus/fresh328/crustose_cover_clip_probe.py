"""Lichen survey: rock-face photo patches <-> surveyor's 3-word notes.

Stage A: contrastive pretraining with the temperature held constant on purpose
         (logit_scale frozen), 32 in-batch negatives.
Stage B: temperature unfrozen, 128 in-batch negatives (the loss starts higher
         because every row now competes with 4x as many columns).
Stage C: linear probe for the growth form on the frozen photo tower, next to the
         same probe on an untrained tower as a baseline.
The logged "objective" is the negated InfoNCE mutual-information bound, so it is
negative and falls while training goes well.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

FORMS = ["crustose", "foliose", "fruticose"]
COLOURS = ["orange", "green", "grey"]
COVER = ["sparse", "dense"]
N_CAP = len(FORMS) * len(COLOURS) * len(COVER)
S = 10
PALETTE = np.array([[1.0, 0.55, 0.1], [0.35, 0.8, 0.3], [0.6, 0.6, 0.62]], np.float32)


def patch(rng, form, colour, cover):
    yy, xx = np.mgrid[0:S, 0:S].astype(np.float32)
    n_spots = [3, 7][cover]
    m = np.zeros((S, S), np.float32)
    for _ in range(n_spots):
        cy, cx = rng.uniform(0, S, 2)
        if form == 0:
            m += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 0.5)
        elif form == 1:
            m += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 3.0)
        else:
            ang = rng.uniform(0, np.pi)
            d = (yy - cy) * np.cos(ang) - (xx - cx) * np.sin(ang)
            a = (yy - cy) * np.sin(ang) + (xx - cx) * np.cos(ang)
            m += np.exp(-d ** 2 / 0.3 - a ** 2 / 6.0)
    m = np.clip(m, 0, 1.2)
    rock = 0.25 + rng.normal(0, 0.05)
    img = rock + m[..., None] * (PALETTE[colour] * rng.uniform(0.8, 1.2) - rock)
    img += rng.normal(0, 0.08, img.shape)
    return img.astype(np.float32)


def make_split(n, seed):
    rng = np.random.default_rng(seed)
    f = rng.integers(0, 3, n)
    c = rng.integers(0, 3, n)
    v = rng.integers(0, 2, n)
    x = np.stack([patch(rng, f[i], c[i], v[i]) for i in range(n)])
    toks = np.stack([f, 3 + c, 6 + v], 1).astype(np.int32)
    return mx.array(x), mx.array(toks), f


class PhotoTower(nn.Module):
    """Four 5x5 patches -> shared linear patch embedding + position -> mean -> MLP."""

    def __init__(self, dim=24):
        super().__init__()
        self.patch = nn.Linear(5 * 5 * 3, 48)
        self.pos = mx.zeros((4, 48))
        self.norm = nn.LayerNorm(48)
        self.head = nn.Sequential(nn.Linear(48, 64), nn.GELU(), nn.Linear(64, dim))

    def features(self, x):
        b = x.shape[0]
        p = x.reshape(b, 2, 5, 2, 5, 3).transpose(0, 1, 3, 2, 4, 5).reshape(b, 4, 75)
        h = nn.gelu(self.patch(p) + self.pos)
        return self.norm(h.mean(axis=1))

    def __call__(self, x):
        return self.head(self.features(x))


class NoteTower(nn.Module):
    def __init__(self, dim=24):
        super().__init__()
        self.emb = nn.Embedding(8, 16)
        self.mlp = nn.Sequential(nn.Linear(48, 64), nn.GELU(), nn.Linear(64, dim))

    def __call__(self, t):
        e = self.emb(t)
        return self.mlp(e.reshape(e.shape[0], -1))


class LichenClip(nn.Module):
    def __init__(self):
        super().__init__()
        self.photo = PhotoTower()
        self.note = NoteTower()
        self.logit_scale = mx.array(math.log(10.0))

    def __call__(self, x, t):
        zp = self.photo(x)
        zn = self.note(t)
        zp = zp / mx.linalg.norm(zp, axis=-1, keepdims=True)
        zn = zn / mx.linalg.norm(zn, axis=-1, keepdims=True)
        return mx.exp(mx.clip(self.logit_scale, 0.0, math.log(100.0))) * zp @ zn.T


def sym_ce(model, x, t):
    lg = model(x, t)
    y = mx.arange(lg.shape[0])
    return 0.5 * (nn.losses.cross_entropy(lg, y, reduction="mean")
                  + nn.losses.cross_entropy(lg.T, y, reduction="mean"))


def train_stage(name, model, opt, x, t, batch, steps, rng, log_every):
    vg = nn.value_and_grad(model, sym_ce)
    acc = []
    for s in range(1, steps + 1):
        idx = mx.array(rng.choice(x.shape[0], batch, replace=False))
        loss, g = vg(model, x[idx], t[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
        acc.append(loss.item())
        if s % log_every == 0:
            L = float(np.mean(acc))
            acc = []
            bound = math.log(batch) - L
            print(f"[{name}] step {s:4d}  loss {L:.4f}  objective {-bound:+.4f}  "
                  f"scale {math.exp(min(max(model.logit_scale.item(), 0.0), math.log(100.0))):.2f}")


ALL_NOTES = mx.array(np.array([[a, 3 + b, 6 + c] for a in range(3) for b in range(3) for c in range(2)], np.int32))


def zero_shot(model, xt, tt):
    zp = model.photo(xt)
    zn = model.note(ALL_NOTES)
    zp = zp / mx.linalg.norm(zp, axis=-1, keepdims=True)
    zn = zn / mx.linalg.norm(zn, axis=-1, keepdims=True)
    pred = np.array(mx.argmax(zp @ zn.T, axis=1))
    tn = np.array(tt)
    truth = (tn[:, 0] * 3 + (tn[:, 1] - 3)) * 2 + (tn[:, 2] - 6)
    return float((pred == truth).mean())


def probe(tower, x, y, xt, yt, epochs=60):
    feats = mx.stop_gradient(tower.features(x))
    ft = mx.stop_gradient(tower.features(xt))
    lin = nn.Linear(feats.shape[1], 3)
    opt = optim.Adam(learning_rate=5e-2)
    yv = mx.array(y)

    def ce(m):
        return nn.losses.cross_entropy(m(feats), yv, reduction="mean")

    vg = nn.value_and_grad(lin, ce)
    for _ in range(epochs):
        loss, g = vg(lin)
        opt.update(lin, g)
        mx.eval(lin.parameters(), opt.state)
    acc = float((np.array(mx.argmax(lin(ft), axis=1)) == yt).mean())
    return loss.item(), acc


def main():
    t0 = time.time()
    mx.random.seed(11)
    rng = np.random.default_rng(5)
    x, t, f = make_split(5000, 21)
    xt, tt, ft = make_split(800, 22)
    print(f"{x.shape[0]} train / {xt.shape[0]} test patches, {N_CAP} distinct notes")

    model = LichenClip()
    mx.eval(model.parameters())

    model.freeze(recurse=False, keys=["logit_scale"])
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    print(f"stage A: logit_scale held at {math.exp(model.logit_scale.item()):.1f}, "
          f"{n_train} trainable weights, batch 32 (chance loss {math.log(32):.3f})")
    opt = optim.Adam(learning_rate=3e-3)
    train_stage("A", model, opt, x, t, 32, 400, rng, 50)

    model.unfreeze(recurse=False, keys=["logit_scale"])
    print(f"stage B: logit_scale trainable, batch 128 (chance loss {math.log(128):.3f})")
    opt = optim.Adam(learning_rate=1.5e-3)
    train_stage("B", model, opt, x, t, 128, 500, rng, 50)
    print(f"zero-shot note match on test: {zero_shot(model, xt, tt):.3f} (chance {1 / N_CAP:.3f})")

    model.freeze()
    trained = probe(model.photo, x[:2000], f[:2000], xt, ft)
    base = probe(LichenClip().photo, x[:2000], f[:2000], xt, ft)
    print(f"stage C: growth-form probe  pretrained tower loss {trained[0]:.3f} acc {trained[1]:.3f} | "
          f"untrained tower loss {base[0]:.3f} acc {base[1]:.3f} | chance 0.333")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
