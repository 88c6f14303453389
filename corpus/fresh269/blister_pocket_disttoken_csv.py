"""Blister-pack line camera: full / empty / cracked-foil pocket, 16x16 crops.

A small CNN is trained first and then used as the teacher of a tiny DeiT-style
ViT (class token + distillation token, stochastic depth). An EMA copy of the
student weights is evaluated beside the raw weights. Progress is CSV on stdout.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map, tree_flatten

SIDE = 16
CLASSES = ["full", "empty", "cracked"]


def make_pockets(n, rng):
    yy, xx = np.mgrid[0:SIDE, 0:SIDE].astype(np.float32)
    imgs = np.zeros((n, SIDE, SIDE, 1), np.float32)
    labels = rng.integers(0, 3, size=n)
    for i in range(n):
        cy, cx = rng.uniform(6.0, 10.0, size=2)
        r = rng.uniform(4.0, 5.5)
        d = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2)
        img = 0.25 * np.exp(-((d - r) ** 2) / 0.8)          # formed pocket rim
        if labels[i] in (0, 2):
            img += 0.9 * (d < r - 1.2)                        # tablet inside
        if labels[i] == 2:
            ang = rng.uniform(0, np.pi)
            dist = np.abs((yy - cy) * np.cos(ang) - (xx - cx) * np.sin(ang))
            img -= 0.7 * ((dist < 0.8) & (d < r + 0.5))       # torn foil line
        img += rng.normal(0, 0.3, size=img.shape)
        imgs[i, :, :, 0] = img
    return imgs, labels.astype(np.int32)


class Teacher(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 8, 3, stride=2, padding=1)
        self.c2 = nn.Conv2d(8, 16, 3, padding=1)
        self.pool = nn.MaxPool2d(2, 2)
        self.fc = nn.Linear(16, 3)

    def __call__(self, x):
        x = nn.relu(self.c1(x))
        x = self.pool(nn.relu(self.c2(x)))
        return self.fc(x.mean(axis=(1, 2)))


class Block(nn.Module):
    def __init__(self, dim, heads, keep):
        super().__init__()
        self.n1 = nn.LayerNorm(dim)
        self.attn = nn.MultiHeadAttention(dim, heads)
        self.n2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.keep = keep

    def _branch_scale(self, x):
        if not self.training or self.keep >= 1.0:
            return 1.0
        m = mx.random.bernoulli(self.keep, (x.shape[0], 1, 1)).astype(x.dtype)
        return m / self.keep

    def __call__(self, x):
        h = self.n1(x)
        x = x + self._branch_scale(x) * self.attn(h, h, h)
        x = x + self._branch_scale(x) * self.mlp(self.n2(x))
        return x


class DistViT(nn.Module):
    def __init__(self, dim=32, depth=2, heads=4, patch=4, keep=0.9):
        super().__init__()
        self.patch = patch
        self.embed = nn.Linear(patch * patch, dim)
        n_tok = (SIDE // patch) ** 2
        self.cls_tok = 0.02 * mx.random.normal((1, 1, dim))
        self.dist_tok = 0.02 * mx.random.normal((1, 1, dim))
        self.pos = 0.02 * mx.random.normal((1, n_tok + 2, dim))
        self.blocks = [Block(dim, heads, keep) for _ in range(depth)]
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, 3)
        self.head_dist = nn.Linear(dim, 3)

    def __call__(self, x):
        B, H, W, _ = x.shape
        p = self.patch
        t = x.reshape(B, H // p, p, W // p, p).transpose(0, 1, 3, 2, 4)
        t = self.embed(t.reshape(B, (H // p) * (W // p), p * p))
        c = mx.broadcast_to(self.cls_tok, (B, 1, t.shape[-1]))
        d = mx.broadcast_to(self.dist_tok, (B, 1, t.shape[-1]))
        t = mx.concatenate([c, d, t], axis=1) + self.pos
        for blk in self.blocks:
            t = blk(t)
        t = self.norm(t)
        return self.head(t[:, 0]), self.head_dist(t[:, 1])

    def predict(self, x):
        a, b = self(x)
        return (mx.softmax(a, axis=-1) + mx.softmax(b, axis=-1)) / 2


def accuracy(pred_fn, X, Y, bs=500):
    hits = 0
    for i in range(0, X.shape[0], bs):
        p = pred_fn(X[i:i + bs])
        hits += (mx.argmax(p, axis=-1) == Y[i:i + bs]).sum().item()
    return hits / X.shape[0]


def main():
    mx.random.seed(7)
    rng = np.random.default_rng(7)
    Xtr, ytr = make_pockets(3000, rng)
    Xva, yva = make_pockets(600, rng)
    Xtr, ytr, Xva, yva = map(mx.array, (Xtr, ytr, Xva, yva))
    chance = max(np.bincount(np.array(yva))) / yva.shape[0]
    t0 = time.time()

    # ---- teacher (no progress output while it trains) ----
    teacher = Teacher()
    t_opt = optim.Adam(learning_rate=3e-3)
    t_loss = lambda m, x, y: nn.losses.cross_entropy(m(x), y, reduction="mean")
    t_step = nn.value_and_grad(teacher, t_loss)
    for it in range(200):
        idx = mx.array(rng.integers(0, Xtr.shape[0], 64))
        loss, g = t_step(teacher, Xtr[idx], ytr[idx])
        t_opt.update(teacher, g)
        mx.eval(teacher.parameters(), t_opt.state)
    teacher.eval()
    teacher.freeze()
    t_acc = accuracy(teacher, Xva, yva)
    yt_tr = mx.concatenate([mx.argmax(teacher(Xtr[i:i + 500]), axis=-1) for i in range(0, Xtr.shape[0], 500)])
    yt_va = mx.argmax(teacher(Xva), axis=-1)
    print(f"# teacher cnn ready after {time.time() - t0:.1f}s  val_acc={t_acc:.3f}  chance={chance:.3f}")

    # ---- student ----
    student = DistViT()
    steps, warm = 240, 30
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, warm), optim.cosine_decay(2e-3, steps - warm, 5e-5)], [warm]
    )
    opt = optim.AdamW(learning_rate=sched, weight_decay=0.05)

    def s_loss(m, x, y, y_t):
        a, b = m(x)
        l_cls = nn.losses.cross_entropy(a, y, reduction="mean")
        l_dist = nn.losses.cross_entropy(b, y_t, reduction="mean")
        return 0.5 * l_cls + 0.5 * l_dist, (l_cls, l_dist)

    s_step = nn.value_and_grad(student, s_loss)
    ema = tree_map(lambda p: p, student.parameters())
    ema_model = DistViT()
    ema_model.eval()
    decay = 0.95

    n_params = sum(v.size for _, v in tree_flatten(student.trainable_parameters()))
    print(f"# student vit params={n_params}  tokens=cls+dist+16")
    print("step,lr,loss_cls,loss_dist,val_acc,val_acc_ema,agree_teacher,teacher_acc,chance")
    run_c = run_d = 0.0
    for it in range(steps):
        student.train()
        idx = mx.array(rng.integers(0, Xtr.shape[0], 64))
        xb = Xtr[idx]
        yb = ytr[idx]
        y_t = yt_tr[idx]
        lr_now = opt.learning_rate.item()
        (loss, (lc, ld)), g = s_step(student, xb, yb, y_t)
        if it == 0:
            gn = {k: mx.linalg.norm(v).item() for k, v in tree_flatten(g)}
            zero = [k for k, v in gn.items() if v == 0.0]
            print(f"# grad check: {len(gn)} arrays, zero-norm: {zero}, |g_dist_tok|={gn['dist_tok']:.2e}")
        opt.update(student, g)
        ema = tree_map(lambda e, p: decay * e + (1 - decay) * p, ema, student.parameters())
        mx.eval(student.parameters(), opt.state, ema)
        run_c += lc.item()
        run_d += ld.item()
        if it % 30 == 0 or it == steps - 1:
            k = 1 if it == 0 else (30 if it % 30 == 0 else (it % 30))
            student.eval()
            ema_model.update(ema)
            va = accuracy(student.predict, Xva, yva)
            va_e = accuracy(ema_model.predict, Xva, yva)
            agree = (mx.argmax(student.predict(Xva), -1) == yt_va).mean().item()
            print(f"{it},{lr_now:.6f},{run_c / k:.4f},{run_d / k:.4f},{va:.3f},{va_e:.3f},{agree:.3f},{t_acc:.3f},{chance:.3f}")
            run_c = run_d = 0.0
    print(f"# done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
