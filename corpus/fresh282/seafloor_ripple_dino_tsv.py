"""Self-distillation (DINO-style) of a tiny ViT on side-scan seabed tiles.

Student ViT + projection head trained with AdamW; the teacher is an EMA copy
of the student and never gets a gradient.  Teacher outputs are centred and
sharpened (teacher temperature warms 0.04 -> 0.06).  Features are judged by
a k-NN probe on 200 labelled tiles, beside a raw-pixel k-NN and chance.
Rows are tab-separated.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

SEED = 11
IMG, PATCH, DIM, HEADS = 16, 4, 32, 2
K_PROTO = 48
BATCH = 32
STEPS = 200
WARMUP = 30
PEAK_LR = 1e-3
T_STUDENT = 0.1
T_TEACH0, T_TEACH1, T_WARM = 0.04, 0.06, 100
CENTER_M = 0.9
EMA0, EMA1 = 0.99, 0.998
PROBE_EVERY = 50
TEXTURES = ["ripple", "rock", "mud", "seagrass"]

rng = np.random.default_rng(SEED)
mx.random.seed(SEED)
yy, xx = np.mgrid[0:IMG, 0:IMG].astype(np.float32)


def tile(kind):
    if kind == 0:
        th = rng.uniform(0, np.pi)
        f = rng.uniform(0.18, 0.26)
        img = np.sin(2 * np.pi * f * (xx * np.cos(th) + yy * np.sin(th)) + rng.uniform(0, 6.3))
    elif kind == 1:
        img = np.zeros((IMG, IMG), np.float32)
        for _ in range(rng.integers(3, 6)):
            cy, cx, r = rng.uniform(1, 15), rng.uniform(1, 15), rng.uniform(1.3, 2.4)
            d2 = (yy - cy) ** 2 + (xx - cx) ** 2
            img += 1.6 * np.exp(-d2 / (2 * r * r))
            img -= 0.9 * np.exp(-((yy - cy) ** 2 + (xx - cx - 2.2 * r) ** 2) / (2 * r * r))
    elif kind == 2:
        coarse = rng.normal(0, 1, (4, 4))
        img = np.kron(coarse, np.ones((4, 4)))
        img = (img + np.roll(img, 2, 0) + np.roll(img, 2, 1) + np.roll(img, (2, 2), (0, 1))) / 4
    else:
        cols = (rng.uniform(0, 1, IMG) < 0.35) * rng.uniform(0.8, 1.6, IMG)
        taper = np.linspace(rng.uniform(0.4, 1.0), 1.0, IMG)[:, None]
        img = cols[None, :] * taper - 0.4
    img = img + rng.normal(0, 0.3, (IMG, IMG))
    return img.astype(np.float32)


def make_tiles(n):
    y = rng.integers(0, len(TEXTURES), n)
    x = np.stack([tile(k) for k in y])[..., None]
    return x, y


def augment(x):
    b = x.shape[0]
    out = np.empty_like(x)
    for i in range(b):
        v = np.roll(x[i], (rng.integers(-4, 5), rng.integers(-4, 5)), (0, 1))
        if rng.uniform() < 0.5:
            v = v[:, ::-1]
        out[i] = v * rng.uniform(0.7, 1.3) + rng.normal(0, 0.15, v.shape)
    return out


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.n1, self.n2 = nn.LayerNorm(DIM), nn.LayerNorm(DIM)
        self.attn = nn.MultiHeadAttention(DIM, HEADS)
        self.mlp = nn.Sequential(nn.Linear(DIM, 2 * DIM), nn.GELU(), nn.Linear(2 * DIM, DIM))

    def __call__(self, x):
        h = self.n1(x)
        x = x + self.attn(h, h, h)
        return x + self.mlp(self.n2(x))


class DinoNet(nn.Module):
    def __init__(self):
        super().__init__()
        n = (IMG // PATCH) ** 2
        self.patch = nn.Conv2d(1, DIM, PATCH, stride=PATCH)
        self.cls = mx.random.normal((1, 1, DIM)) * 0.02
        self.pos = mx.random.normal((1, n + 1, DIM)) * 0.02
        self.blocks = [Block(), Block()]
        self.norm = nn.LayerNorm(DIM)
        self.proj = nn.Sequential(nn.Linear(DIM, 64), nn.GELU(), nn.Linear(64, 24))
        self.proto = nn.Linear(24, K_PROTO, bias=False)

    def features(self, x):
        b = x.shape[0]
        t = self.patch(x).reshape(b, -1, DIM)
        t = mx.concatenate([mx.broadcast_to(self.cls, (b, 1, DIM)), t], 1) + self.pos
        for blk in self.blocks:
            t = blk(t)
        return self.norm(t[:, 0])

    def __call__(self, x):
        z = self.proj(self.features(x))
        z = z / (mx.linalg.norm(z, axis=-1, keepdims=True) + 1e-6)
        return self.proto(z)


def dino_loss(student, v1, v2, t1, t2):
    s1 = nn.log_softmax(student(v1) / T_STUDENT, axis=-1)
    s2 = nn.log_softmax(student(v2) / T_STUDENT, axis=-1)
    return 0.5 * (mx.mean(-(t1 * s2).sum(-1)) + mx.mean(-(t2 * s1).sum(-1)))


def knn_acc(feat_bank, y_bank, feat_q, y_q, k=10):
    a = feat_bank / (np.linalg.norm(feat_bank, axis=1, keepdims=True) + 1e-8)
    b = feat_q / (np.linalg.norm(feat_q, axis=1, keepdims=True) + 1e-8)
    sim = b @ a.T
    nn_idx = np.argsort(-sim, axis=1)[:, :k]
    votes = y_bank[nn_idx]
    pred = np.array([np.bincount(v, minlength=len(TEXTURES)).argmax() for v in votes])
    return 100.0 * float(np.mean(pred == y_q))


def main():
    t0 = time.time()
    x_unl, _ = make_tiles(3000)
    x_bank, y_bank = make_tiles(200)
    x_q, y_q = make_tiles(400)
    mu, sd = x_unl.mean(), x_unl.std()
    x_unl, x_bank, x_q = (x_unl - mu) / sd, (x_bank - mu) / sd, (x_q - mu) / sd

    student, teacher = DinoNet(), DinoNet()
    teacher.update(tree_map(lambda p: p * 1.0, student.parameters()))
    teacher.eval()
    mx.eval(student.parameters(), teacher.parameters())
    center = mx.zeros((K_PROTO,))

    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK_LR, WARMUP),
         optim.cosine_decay(PEAK_LR, STEPS - WARMUP, 1e-5)], [WARMUP])
    opt = optim.AdamW(learning_rate=sched, weight_decay=0.04)
    vg = nn.value_and_grad(student, dino_loss)

    def probe():
        fb = np.array(teacher.features(mx.array(x_bank)))
        fq = np.array(teacher.features(mx.array(x_q)))
        return knn_acc(fb, y_bank, fq, y_q)

    raw = knn_acc(x_bank.reshape(200, -1), y_bank, x_q.reshape(400, -1), y_q)
    n_par = sum(v.size for _, v in tree_flatten(student.trainable_parameters()))
    print(f"# tiles unlabelled={len(x_unl)} bank={len(y_bank)} queries={len(y_q)} "
          f"student_params={n_par} teacher=EMA(no grad)")
    print("step\tlr\tema_m\tt_temp\tloss\tteach_ent\tlog_K\tknn_pct\traw_knn_pct\tchance_pct")
    print(f"0\t0.000000\t{EMA0:.4f}\t{T_TEACH0:.3f}\t\t\t{math.log(K_PROTO):.3f}\t"
          f"{probe():.1f}\t{raw:.1f}\t25.0")

    run, ent_run, n = 0.0, 0.0, 0
    for step in range(1, STEPS + 1):
        idx = rng.integers(0, len(x_unl), BATCH)
        v1 = mx.array(augment(x_unl[idx]))
        v2 = mx.array(augment(x_unl[idx]))
        tt = T_TEACH0 + (T_TEACH1 - T_TEACH0) * min(1.0, (step - 1) / T_WARM)
        o1, o2 = teacher(v1), teacher(v2)
        p1 = mx.softmax((o1 - center) / tt, axis=-1)
        p2 = mx.softmax((o2 - center) / tt, axis=-1)
        lr_now = float(opt.learning_rate)
        loss, grads = vg(student, v1, v2, mx.stop_gradient(p1), mx.stop_gradient(p2))
        if step == 1:
            flat = tree_flatten(grads)
            dead = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
            print(f"# grad leaves={len(flat)} zero={dead if dead else 'none'} "
                  f"first lr={lr_now:.6f}")
        opt.update(student, grads)
        m = EMA1 - (EMA1 - EMA0) * (math.cos(math.pi * (step - 1) / STEPS) + 1) / 2
        teacher.update(tree_map(lambda t, s: m * t + (1 - m) * s,
                                teacher.parameters(), student.parameters()))
        batch_center = mx.mean(mx.concatenate([o1, o2], 0), axis=0)
        center = CENTER_M * center + (1 - CENTER_M) * batch_center
        pbar = mx.mean(mx.concatenate([p1, p2], 0), axis=0)
        ent = -mx.sum(pbar * mx.log(pbar + 1e-12))
        mx.eval(student.parameters(), teacher.parameters(), opt.state, center, loss, ent)
        run += loss.item()
        ent_run += ent.item()
        n += 1
        if step % PROBE_EVERY == 0:
            print(f"{step}\t{lr_now:.6f}\t{m:.4f}\t{tt:.3f}\t{run / n:.4f}\t"
                  f"{ent_run / n:.3f}\t{math.log(K_PROTO):.3f}\t{probe():.1f}\t{raw:.1f}\t25.0")
            run, ent_run, n = 0.0, 0.0, 0
    print(f"# done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
