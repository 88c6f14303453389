"""Handwritten LaTeX-symbol recogniser for a formula OCR front end.

Sixteen math symbols are drawn as stroke segments on a 12x12 canvas with
random placement, scale, shear and pen width. Stage "clean" trains on pen-tablet
renderings, stage "scanned" continues on photocopied pages (blur, ink bleed,
speckle, low contrast). The inner optimizer is SGD with momentum wrapped in a
hand-written Lookahead (k=5 fast steps, slow weights pulled half way).
Reports are written as SubRip (.srt) cues whose timestamps are wall-clock time.
"""

import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

# symbol name -> list of segments (x0, y0, x1, y1) on a unit square
SYMBOLS = {
    "+": [(0.5, 0.15, 0.5, 0.85), (0.15, 0.5, 0.85, 0.5)],
    "-": [(0.15, 0.5, 0.85, 0.5)],
    "=": [(0.15, 0.38, 0.85, 0.38), (0.15, 0.62, 0.85, 0.62)],
    "\\times": [(0.2, 0.2, 0.8, 0.8), (0.8, 0.2, 0.2, 0.8)],
    "\\div": [(0.15, 0.5, 0.85, 0.5), (0.48, 0.22, 0.52, 0.26), (0.48, 0.74, 0.52, 0.78)],
    "<": [(0.8, 0.2, 0.2, 0.5), (0.2, 0.5, 0.8, 0.8)],
    ">": [(0.2, 0.2, 0.8, 0.5), (0.8, 0.5, 0.2, 0.8)],
    "\\leq": [(0.8, 0.15, 0.2, 0.4), (0.2, 0.4, 0.8, 0.65), (0.2, 0.85, 0.8, 0.85)],
    "\\sum": [(0.8, 0.15, 0.2, 0.15), (0.2, 0.15, 0.55, 0.5), (0.55, 0.5, 0.2, 0.85), (0.2, 0.85, 0.8, 0.85)],
    "\\pi": [(0.15, 0.25, 0.85, 0.25), (0.35, 0.25, 0.35, 0.85), (0.65, 0.25, 0.7, 0.85)],
    "\\sqrt": [(0.1, 0.6, 0.25, 0.85), (0.25, 0.85, 0.45, 0.15), (0.45, 0.15, 0.9, 0.15)],
    "\\int": [(0.6, 0.1, 0.5, 0.15), (0.5, 0.15, 0.5, 0.85), (0.5, 0.85, 0.4, 0.9)],
    "\\infty": [(0.15, 0.5, 0.3, 0.35), (0.3, 0.35, 0.5, 0.5), (0.5, 0.5, 0.7, 0.65),
                (0.7, 0.65, 0.85, 0.5), (0.85, 0.5, 0.7, 0.35), (0.7, 0.35, 0.5, 0.5),
                (0.5, 0.5, 0.3, 0.65), (0.3, 0.65, 0.15, 0.5)],
    "\\Delta": [(0.5, 0.15, 0.15, 0.85), (0.5, 0.15, 0.85, 0.85), (0.15, 0.85, 0.85, 0.85)],
    "\\forall": [(0.15, 0.15, 0.5, 0.85), (0.5, 0.85, 0.85, 0.15), (0.3, 0.5, 0.7, 0.5)],
    "\\perp": [(0.5, 0.15, 0.5, 0.85), (0.15, 0.85, 0.85, 0.85)],
}
NAMES = list(SYMBOLS)
K = len(NAMES)
S = 12


def render(segments, rng, scanned):
    img = np.zeros((S, S), np.float32)
    sc = rng.uniform(0.75, 1.05)
    sh = rng.uniform(-0.2, 0.2)
    ox, oy = rng.uniform(-0.08, 0.08, size=2)
    rot = rng.uniform(-0.15, 0.15)
    c, s_ = np.cos(rot), np.sin(rot)
    width = rng.uniform(0.5, 0.9)
    yy, xx = np.mgrid[0:S, 0:S] + 0.5
    for (x0, y0, x1, y1) in segments:
        for t in np.linspace(0, 1, 14):
            x = (x0 + t * (x1 - x0)) - 0.5
            y = (y0 + t * (y1 - y0)) - 0.5
            x, y = c * x - s_ * y + sh * y, s_ * x + c * y
            px = (x * sc + 0.5 + ox) * S
            py = (y * sc + 0.5 + oy) * S
            img = np.maximum(img, np.exp(-((xx - px) ** 2 + (yy - py) ** 2) / (2 * width ** 2)))
    if scanned:
        pad = np.pad(img, 1, mode="edge")
        img = sum(pad[i:i + S, j:j + S] for i in range(3) for j in range(3)) / 9.0  # photocopy blur
        img = np.clip(img * rng.uniform(0.45, 0.8) + rng.uniform(0.1, 0.3), 0, 1)  # low contrast, grey paper
        speck = rng.random((S, S)) < 0.06
        img[speck] = rng.random(speck.sum())
        img += rng.normal(0, 0.12, img.shape)
    else:
        img += rng.normal(0, 0.05, img.shape)
    return np.clip(img, 0, 1)


def make_set(n, rng, scanned):
    y = rng.integers(0, K, size=n)
    x = np.stack([render(SYMBOLS[NAMES[k]], rng, scanned) for k in y])
    return x[..., None].astype(np.float32), y.astype(np.int32)


class SymbolNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 16, 3, padding=1)
        self.c2 = nn.Conv2d(16, 32, 3, padding=1)
        self.pool = nn.MaxPool2d(2, 2)
        self.fc1 = nn.Linear(3 * 3 * 32, 64)
        self.fc2 = nn.Linear(64, K)

    def __call__(self, x):
        h = self.pool(nn.relu(self.c1(x)))
        h = self.pool(nn.relu(self.c2(h)))
        h = h.reshape(h.shape[0], -1)
        return self.fc2(nn.relu(self.fc1(h)))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def accuracy(model, x, y):
    return 100.0 * (mx.argmax(model(x), axis=1) == y).mean().item()


def stamp(sec):
    ms = int(round(sec * 1000))
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


class Cues:
    def __init__(self):
        self.n = 0
        self.t0 = time.time()
        self.last = 0.0

    def emit(self, *lines):
        now = time.time() - self.t0
        self.n += 1
        print(self.n)
        print(f"{stamp(self.last)} --> {stamp(now)}")
        for ln in lines:
            print(ln)
        print(flush=True)
        self.last = now


def main():
    mx.random.seed(3)
    rng = np.random.default_rng(3)
    stages = []
    for name, scanned in (("clean", False), ("scanned", True)):
        xtr, ytr = make_set(2400, rng, scanned)
        xva, yva = make_set(600, rng, scanned)
        stages.append((name, mx.array(xtr), mx.array(ytr), mx.array(xva), mx.array(yva), xva, yva))

    # template-matching reference: correlation with the noiseless centred drawing
    tmpl = np.stack([render(SYMBOLS[n], np.random.default_rng(0), False) for n in NAMES]).reshape(K, -1)
    tmpl = (tmpl - tmpl.mean(1, keepdims=True)) / tmpl.std(1, keepdims=True)

    def template_acc(xv, yv):
        f = xv.reshape(len(xv), -1)
        f = (f - f.mean(1, keepdims=True)) / (f.std(1, keepdims=True) + 1e-6)
        return 100.0 * ((f @ tmpl.T).argmax(1) == yv).mean()

    model = SymbolNet()
    mx.eval(model.parameters())
    lg = nn.value_and_grad(model, loss_fn)
    cues = Cues()
    _, xtr0, ytr0, *_ = stages[0]
    l0, g0 = lg(model, xtr0[:64], ytr0[:64])
    leaves = tree_flatten(g0)
    dead = sum(1 for _, v in leaves if mx.abs(v).max().item() == 0.0)
    cues.emit(f"setup | {K} symbols, 12x12 canvas | train 2400 / val 600 per stage",
              f"first-batch xent {l0.item():.3f} vs log {K} = {np.log(K):.3f} | grad leaves {len(leaves)}, all-zero {dead}")

    k_sync, alpha, batch, epochs = 5, 0.5, 48, 6
    slow = tree_map(lambda p: p, model.trainable_parameters())
    for si, (name, xtr, ytr, xva, yva, xva_np, yva_np) in enumerate(stages):
        steps = xtr.shape[0] // batch
        total = epochs * steps
        # cosine restarts from the top of the range at each stage; counters restart too
        inner = optim.SGD(learning_rate=optim.cosine_decay(0.08, total, 0.004), momentum=0.9)
        inner.init(model.trainable_parameters())
        tacc = template_acc(xva_np, yva_np)
        for ep in range(1, epochs + 1):
            perm = mx.array(rng.permutation(xtr.shape[0]))
            lr0 = inner.learning_rate.item()
            tot = 0.0
            for s in range(steps):
                idx = perm[s * batch:(s + 1) * batch]
                loss, grads = lg(model, xtr[idx], ytr[idx])
                inner.update(model, grads)
                if (s + 1) % k_sync == 0 or s == steps - 1:
                    slow = tree_map(lambda sw, fw: sw + alpha * (fw - sw), slow, model.trainable_parameters())
                    model.update(slow)
                mx.eval(model.parameters(), inner.state, slow, loss)
                tot += loss.item()
            vloss = loss_fn(model, xva, yva).item()
            vacc = accuracy(model, xva, yva)
            if ep in (1, 2) or ep == epochs or si == 0:
                cues.emit(f"stage {name} | epoch {ep}/{epochs} | lr {lr0:.4f} -> {inner.learning_rate.item():.4f}",
                          f"train_xent {tot / steps:.4f} | val_xent {vloss:.4f} | val_acc {vacc:.1f}% "
                          f"(chance {100 / K:.1f}%, template match {tacc:.1f}%)")
        if si == 0:
            # how the clean-stage recogniser copes with photocopies before it sees any
            sx, sy = stages[1][3], stages[1][4]
            cues.emit(f"handover | clean model on scanned val: xent {loss_fn(model, sx, sy).item():.4f}, "
                      f"acc {accuracy(model, sx, sy):.1f}%")

    logits = model(stages[1][3])
    pred = np.array(mx.argmax(logits, axis=1))
    yv = stages[1][6]
    per = [(100.0 * (pred[yv == k] == k).mean(), NAMES[k]) for k in range(K)]
    per.sort()
    cues.emit("final scanned-page recall, weakest three: " + ", ".join(f"{n} {a:.1f}%" for a, n in per[:3]),
              "strongest three: " + ", ".join(f"{n} {a:.1f}%" for a, n in per[-3:]))


if __name__ == "__main__":
    main()
