"""Matrix capsules with EM routing on synthetic 10x10 glyphs (4 classes).

Spread loss with a margin that is annealed upward every epoch, AdamW with a
linear warmup that starts at exactly 0 and then cosine decay, a checkpoint
written half way and the run resumed from it into a freshly built model and
optimizer, and a nearest-centroid baseline printed beside the accuracy.
"""
import math
import os
import tempfile

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

SEED = 7
N_CLASSES = 4
TYPES = 4          # primary capsule types
POSE = 4           # 4x4 pose matrices
EM_ITERS = 3
EPOCHS = 10
BATCH = 64
PEAK_LR = 3e-3
WARM_STEPS = 20

rng = np.random.default_rng(SEED)


def glyph(cls, r):
    img = np.zeros((10, 10), np.float32)
    y, x = r.integers(1, 8, size=2)
    if cls == 0:        # horizontal bar
        img[y, max(0, x - 3):x + 3] = 1.0
    elif cls == 1:      # vertical bar
        img[max(0, y - 3):y + 3, x] = 1.0
    elif cls == 2:      # diagonal
        for k in range(-2, 3):
            yy, xx = y + k, x + k
            if 0 <= yy < 10 and 0 <= xx < 10:
                img[yy, xx] = 1.0
    else:               # small box outline
        y0, x0 = min(y, 6), min(x, 6)
        img[y0, x0:x0 + 4] = 1.0
        img[y0 + 3, x0:x0 + 4] = 1.0
        img[y0:y0 + 4, x0] = 1.0
        img[y0:y0 + 4, x0 + 3] = 1.0
    img += 0.15 * r.standard_normal(img.shape).astype(np.float32)
    return img


def make_set(n, r):
    ys = r.integers(0, N_CLASSES, size=n)
    xs = np.stack([glyph(c, r) for c in ys])[..., None]
    return xs.astype(np.float32), ys.astype(np.int32)


Xtr, Ytr = make_set(1024, rng)
Xva, Yva = make_set(512, rng)

# nearest-centroid baseline on raw pixels
cent = np.stack([Xtr[Ytr == c].reshape(-1, 100).mean(0) for c in range(N_CLASSES)])
d = ((Xva.reshape(-1, 100)[:, None, :] - cent[None]) ** 2).sum(-1)
BASELINE_ACC = float((d.argmin(1) == Yva).mean())


class EMCaps(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 32, 3, padding=1)
        self.prim = nn.Conv2d(32, TYPES * (POSE * POSE + 1), 3, stride=2, padding=1)
        self.W = mx.random.normal((TYPES, N_CLASSES, POSE, POSE)) * 0.5
        self.beta_v = mx.zeros((N_CLASSES,))
        self.beta_a = mx.zeros((N_CLASSES,))

    def em_routing(self, V, a_in):
        # V: [B, N, C, D] votes, a_in: [B, N]
        B, N, C, D = V.shape
        R = mx.full((B, N, C), 1.0 / C)
        eps = 1e-6
        for it in range(EM_ITERS):
            lam = 1.0 + it          # inverse temperature grows per iteration
            Rw = R * a_in[..., None]
            sR = Rw.sum(1) + eps                                   # [B, C]
            mu = (Rw[..., None] * V).sum(1) / sR[..., None]        # [B, C, D]
            var = (Rw[..., None] * (V - mu[:, None]) ** 2).sum(1) / sR[..., None] + eps
            cost = ((self.beta_v[:, None] + 0.5 * mx.log(var)) * sR[..., None]).sum(-1)
            cm = cost.mean(-1, keepdims=True)
            cs = mx.sqrt(((cost - cm) ** 2).mean(-1, keepdims=True) + eps)
            a_out = mx.sigmoid(lam * (self.beta_a - (cost - cm) / cs))  # [B, C]
            if it < EM_ITERS - 1:
                logp = -0.5 * (((V - mu[:, None]) ** 2) / var[:, None]).sum(-1) \
                       - 0.5 * mx.log(2 * math.pi * var).sum(-1)[:, None]
                R = mx.softmax(mx.log(a_out + eps)[:, None] + logp, axis=-1)
        return a_out

    def __call__(self, x):
        h = nn.relu(self.conv(x))
        p = self.prim(h)                                   # [B, 5, 5, TYPES*17]
        B, H, Wd, _ = p.shape
        p = p.reshape(B, H * Wd, TYPES, POSE * POSE + 1)
        pose = p[..., :POSE * POSE].reshape(B, H * Wd, TYPES, POSE, POSE)
        act = mx.sigmoid(p[..., -1])                       # [B, HW, TYPES]
        votes = pose[:, :, :, None] @ self.W[None, None]   # [B, HW, T, C, 4, 4]
        votes = votes.reshape(B, H * Wd * TYPES, N_CLASSES, POSE * POSE)
        return self.em_routing(votes, act.reshape(B, -1))


def spread_loss(a, y, margin):
    at = mx.take_along_axis(a, y[:, None], axis=1)
    gap = mx.maximum(0.0, margin - (at - a)) ** 2
    mask = 1.0 - mx.eye(N_CLASSES)[y]
    return (gap * mask).sum(-1).mean()


def margin_at(epoch):
    return 0.2 + 0.7 * min(1.0, epoch / (EPOCHS - 3))


def build(total_steps):
    m = EMCaps()
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK_LR, WARM_STEPS),
         optim.cosine_decay(PEAK_LR, total_steps - WARM_STEPS, 1e-4)],
        [WARM_STEPS])
    o = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    return m, o


def accuracy(m, X, Y):
    pred = mx.argmax(m(mx.array(X)), axis=1)
    return (pred == mx.array(Y)).astype(mx.float32).mean().item()


steps_per_epoch = len(Xtr) // BATCH
total = EPOCHS * steps_per_epoch
mx.random.seed(SEED)
model, opt = build(total)


def run_epochs(model, opt, start, stop):
    def loss_fn(m, x, y, margin):
        return spread_loss(m(x), y, margin)

    lg = nn.value_and_grad(model, loss_fn)
    for ep in range(start, stop):
        margin = margin_at(ep)
        perm = rng.permutation(len(Xtr))
        tot = 0.0
        for i in range(steps_per_epoch):
            idx = perm[i * BATCH:(i + 1) * BATCH]
            loss, g = lg(model, mx.array(Xtr[idx]), mx.array(Ytr[idx]), margin)
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            if ep == 0 and i in (0, 1, 2):
                print(f"  warmup step {opt.step.item():3d} lr={opt.learning_rate.item():.2e} loss={loss.item():.4f}")
        va = accuracy(model, Xva, Yva)
        print(f"epoch {ep + 1:2d} margin={margin:.2f} spread_loss={tot / steps_per_epoch:.4f} "
              f"lr={opt.learning_rate.item():.2e} val_acc={va:.3f} (centroid baseline {BASELINE_ACC:.3f})")


print(f"train={len(Xtr)} val={len(Xva)} params={sum(v.size for _, v in tree_flatten(model.parameters()))}")
half = EPOCHS // 2
run_epochs(model, opt, 0, half)

ckdir = tempfile.mkdtemp()
wpath = os.path.join(ckdir, "caps.safetensors")
spath = os.path.join(ckdir, "opt.safetensors")
model.save_weights(wpath)
mx.save_safetensors(spath, dict(tree_flatten(opt.state)))
acc_before = accuracy(model, Xva, Yva)
print(f"checkpoint written at epoch {half}: val_acc={acc_before:.3f}")

# resume into freshly built objects
mx.random.seed(SEED + 100)
model2, opt2 = build(total)
model2.load_weights(wpath)
opt2.state = tree_unflatten(list(mx.load(spath).items()))
acc_after = accuracy(model2, Xva, Yva)
diff = max(mx.abs(a - b).max().item() for (_, a), (_, b) in
           zip(tree_flatten(model.parameters()), tree_flatten(model2.parameters())))
print(f"resumed: step={opt2.step.item()} val_acc={acc_after:.3f} max|param diff|={diff:.1e}")
run_epochs(model2, opt2, half, EPOCHS)

final = accuracy(model2, Xva, Yva)
print(f"final val_acc={final:.3f} centroid baseline={BASELINE_ACC:.3f} chance={1 / N_CLASSES:.3f}")
