"""Tapestry workshop: match woven swatch photos to their thread cards.

A swatch photo (synthetic 9x9 RGB, NHWC) shows three vertical bands of thread
colour; its card lists the three colours left to right.  BLIP-style dual
objective:
  ITC  symmetric contrastive loss between an image tower and a card tower
  ITM  binary match / no-match head over the fused pair
Phase 1 draws ITM negatives at random.  Phase 2 mines the HARD negative for
each swatch from the ITC similarity matrix (the most similar non-matching card), so
the ITM loss jumps up when phase 2 starts and then comes back down.
"""

import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

SEED = 5
NCOL = 6
PALETTE = np.array(
    [[0.85, 0.15, 0.1], [0.1, 0.3, 0.85], [0.15, 0.7, 0.2],
     [0.9, 0.8, 0.15], [0.55, 0.2, 0.7], [0.9, 0.9, 0.9]],
    dtype=np.float32,
)


def make(rng, n):
    cards = rng.integers(0, NCOL, (n, 3))
    img = np.empty((n, 9, 9, 3), np.float32)
    for i in range(n):
        for b in range(3):
            img[i, :, 3 * b : 3 * b + 3] = PALETTE[cards[i, b]]
    img *= rng.uniform(0.8, 1.2, (n, 1, 1, 1)).astype(np.float32)  # lighting
    img += rng.normal(0, 0.1, img.shape).astype(np.float32)
    return img, cards.astype(np.int32)


class ImageTower(nn.Module):
    def __init__(self, d=48):
        super().__init__()
        self.conv = nn.Conv2d(3, 12, 3, stride=3)  # one cell per 3x3 block
        self.fc = nn.Linear(9 * 12, d)

    def __call__(self, x):
        h = nn.relu(self.conv(x))
        return self.fc(h.reshape(h.shape[0], -1))


class CardTower(nn.Module):
    def __init__(self, d=48):
        super().__init__()
        self.emb = nn.Embedding(NCOL, 16)
        self.pos = mx.random.normal((3, 16)) * 0.1
        self.fc = nn.Linear(48, d)

    def __call__(self, c):
        h = self.emb(c) + self.pos
        return self.fc(h.reshape(h.shape[0], -1))


class Matcher(nn.Module):
    def __init__(self, d=48):
        super().__init__()
        self.img = ImageTower(d)
        self.card = CardTower(d)
        self.log_scale = mx.array(np.log(10.0), dtype=mx.float32)
        self.itm = nn.Sequential(nn.Linear(3 * d, 64), nn.GELU(), nn.Linear(64, 1))

    def embed(self, x, c):
        zi = self.img(x)
        zc = self.card(c)
        return zi, zc

    def itm_logit(self, zi, zc):
        return self.itm(mx.concatenate([zi, zc, zi * zc], axis=-1)).squeeze(-1)


def normed(z):
    return z / mx.linalg.norm(z, axis=-1, keepdims=True)


def losses(model, x, c, neg_idx):
    zi, zc = model.embed(x, c)
    ni, nc = normed(zi), normed(zc)
    scale = mx.minimum(mx.exp(model.log_scale), 100.0)
    sim = scale * ni @ nc.T
    lab = mx.arange(x.shape[0])
    itc = 0.5 * (nn.losses.cross_entropy(sim, lab, reduction="mean")
                 + nn.losses.cross_entropy(sim.T, lab, reduction="mean"))
    pos = model.itm_logit(zi, zc)
    neg = model.itm_logit(zi, zc[neg_idx])
    logits = mx.concatenate([pos, neg])
    target = mx.concatenate([mx.ones_like(pos), mx.zeros_like(neg)])
    itm = nn.losses.binary_cross_entropy(logits, target, with_logits=True, reduction="mean")
    return itc + itm, (itc, itm)


def hard_negatives(model, x, c):
    zi, zc = model.embed(x, c)
    sim = normed(zi) @ normed(zc).T
    n = x.shape[0]
    # a card identical to the true one is not a negative
    same = mx.all(c[:, None, :] == c[None, :, :], axis=-1)
    sim = mx.where(same, -1e9, sim)
    return mx.argmax(sim, axis=1)


def evaluate(model, x, c):
    zi, zc = model.embed(x, c)
    sim = normed(zi) @ normed(zc).T
    same = np.array(mx.all(c[:, None, :] == c[None, :, :], axis=-1))
    best = np.array(mx.argmax(sim, axis=1))
    r1 = float(same[np.arange(len(best)), best].mean())
    neg = np.array(hard_negatives(model, x, c))
    pos_p = np.array(mx.sigmoid(model.itm_logit(zi, zc)))
    neg_p = np.array(mx.sigmoid(model.itm_logit(zi, zc[mx.array(neg)])))
    itm_acc = 0.5 * ((pos_p > 0.5).mean() + (neg_p < 0.5).mean())
    return r1, float(itm_acc)


def main():
    t0 = time.time()
    rng = np.random.default_rng(SEED)
    mx.random.seed(SEED)
    xtr, ctr = make(rng, 4000)
    xte, cte = make(rng, 256)
    Xtr, Ctr, Xte, Cte = map(mx.array, (xtr, ctr, xte, cte))
    model = Matcher()
    mx.eval(model.parameters())
    sched = optim.step_decay(2e-3, 0.5, 200)
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-3)
    vg = nn.value_and_grad(model, losses)
    B, steps, hard_from = 64, 500, 200
    print(f"swatches train={len(xtr)} test={len(xte)}; test recall@1 chance={1/len(xte):.4f}, ITM chance=0.500")
    print(f"{'step':>4} {'phase':>6} {'lr':>8} {'itc':>6} {'itm':>6} {'r@1':>6} {'itm_acc':>7} {'scale':>6}")
    window = []
    for step in range(1, steps + 1):
        idx = mx.array(rng.choice(len(xtr), B, replace=False))
        x, c = Xtr[idx], Ctr[idx]
        if step <= hard_from:
            neg = mx.array((np.arange(B) + rng.integers(1, B, B)) % B)
            phase = "random"
        else:
            neg = hard_negatives(model, x, c)
            phase = "hard"
        lr = float(sched(step - 1))
        (loss, (itc, itm)), g = vg(model, x, c, neg)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss, itc, itm)
        window.append((itc.item(), itm.item()))
        if step % 50 == 0 or step == hard_from + 1:
            a = np.mean(window, axis=0)
            window = []
            r1, acc = evaluate(model, Xte, Cte)
            sc = min(float(mx.exp(model.log_scale)), 100.0)
            print(f"{step:4d} {phase:>6} {lr:8.1e} {a[0]:6.3f} {a[1]:6.3f} {r1:6.3f} {acc:7.3f} {sc:6.1f}")
    r1, acc = evaluate(model, Xte, Cte)
    print(f"final test recall@1 {r1:.3f} (chance {1/len(xte):.4f}), hard-negative ITM accuracy {acc:.3f} (chance 0.500)")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
