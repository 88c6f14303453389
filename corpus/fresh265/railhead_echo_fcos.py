"""Rail-head ultrasonic strip scans: localise flaw echoes along a 64-sample strip.

Anchor-free 1-D detector (FCOS-style): per-sample flaw score + distances to the
flaw's left/right edge. Sigmoid focal loss (prior-probability bias) + 1-D IoU loss
on positive samples. Warm-up from lr 0, then cosine; the run is checkpointed at
the half-way mark and resumed into a freshly built model and optimizer.
"""
import os
import shutil
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

L, C = 64, 2
rng = np.random.default_rng(11)


def make_strips(n):
    x = rng.normal(0.0, 0.35, size=(n, L, C)).astype(np.float32)
    boxes = []
    for i in range(n):
        k = rng.choice([0, 1, 2, 3], p=[0.15, 0.4, 0.3, 0.15])
        taken = np.zeros(L, bool)
        bs = []
        for _ in range(k):
            for _try in range(20):
                w = int(rng.integers(4, 12))
                s = int(rng.integers(0, L - w))
                if not taken[max(0, s - 2):s + w + 2].any():
                    taken[s:s + w] = True
                    bs.append((s, s + w))
                    break
        for s, e in bs:
            amp = rng.uniform(0.6, 1.4)
            t = np.linspace(0, np.pi, e - s)
            x[i, s:e, 0] += amp * np.sin(t)
            x[i, s:e, 1] += amp * np.cos(t) * 0.8
        # a couple of spurious grain-noise spikes
        for p in rng.integers(0, L, size=2):
            x[i, p, 0] += rng.uniform(0.5, 1.2)
        boxes.append(bs)
    return x, boxes


def encode(boxes):
    n = len(boxes)
    cls = np.zeros((n, L), np.float32)
    reg = np.ones((n, L, 2), np.float32)
    for i, bs in enumerate(boxes):
        for s, e in bs:
            for p in range(s, e):
                cls[i, p] = 1.0
                reg[i, p] = (p + 0.5 - s, e - (p + 0.5))
    return cls, reg


class Detector(nn.Module):
    def __init__(self, ch=16, prior=0.01):
        super().__init__()
        self.stem = nn.Conv1d(C, ch, 5, padding=2)
        self.body = [nn.Conv1d(ch, ch, 5, padding=2) for _ in range(2)]
        self.cls_head = nn.Conv1d(ch, 1, 3, padding=1)
        self.reg_head = nn.Conv1d(ch, 2, 3, padding=1)
        self.cls_head.bias = mx.full((1,), -float(np.log((1 - prior) / prior)))

    def __call__(self, x):
        h = nn.gelu(self.stem(x))
        for conv in self.body:
            h = h + nn.gelu(conv(h))
        logits = self.cls_head(h)[..., 0]
        dist = nn.softplus(self.reg_head(h)) * 4.0
        return logits, dist


def focal_loss(logits, target, alpha=0.25, gamma=2.0):
    p = mx.sigmoid(logits)
    ce = nn.losses.binary_cross_entropy(logits, target, reduction="none")
    p_t = p * target + (1 - p) * (1 - target)
    a_t = alpha * target + (1 - alpha) * (1 - target)
    return a_t * (1 - p_t) ** gamma * ce


def iou_1d(pred, tgt):
    inter = mx.minimum(pred[..., 0], tgt[..., 0]) + mx.minimum(pred[..., 1], tgt[..., 1])
    union = pred.sum(-1) + tgt.sum(-1) - inter
    return inter / (union + 1e-6)


def losses(model, x, cls_t, reg_t):
    logits, dist = model(x)
    npos = mx.maximum(cls_t.sum(), 1.0)
    l_cls = focal_loss(logits, cls_t).sum() / npos
    l_iou = ((1 - iou_1d(dist, reg_t)) * cls_t).sum() / npos
    return l_cls + l_iou, (l_cls, l_iou)


def decode(logits, dist, thr=0.5):
    score = np.array(mx.sigmoid(logits))
    d = np.array(dist)
    out = []
    for i in range(score.shape[0]):
        cand = []
        for p in np.where(score[i] > thr)[0]:
            cand.append((score[i, p], p + 0.5 - d[i, p, 0], p + 0.5 + d[i, p, 1]))
        cand.sort(reverse=True)
        keep = []
        for sc, s, e in cand:
            if all(_iou(s, e, ks, ke) < 0.5 for _, ks, ke in keep):
                keep.append((sc, s, e))
        out.append([(s, e) for _, s, e in keep])
    return out


def _iou(s1, e1, s2, e2):
    inter = max(0.0, min(e1, e2) - max(s1, s2))
    return inter / (max(e1, e2) - min(s1, s2) + 1e-9)


def f1_at_half(pred, truth):
    tp = fp = fn = 0
    for ps, ts in zip(pred, truth):
        used = set()
        for s, e in ps:
            best, bj = 0.0, -1
            for j, (ts_, te_) in enumerate(ts):
                if j in used:
                    continue
                v = _iou(s, e, ts_, te_)
                if v > best:
                    best, bj = v, j
            if best >= 0.5:
                tp += 1
                used.add(bj)
            else:
                fp += 1
        fn += len(ts) - len(used)
    return 2 * tp / max(2 * tp + fp + fn, 1)


def threshold_detector(x, thr=0.55):
    sm = np.convolve  # moving average of channel-0 amplitude, a classic gate
    out = []
    for i in range(x.shape[0]):
        a = sm(x[i, :, 0], np.ones(3) / 3, mode="same") > thr
        bs, p = [], 0
        while p < L:
            if a[p]:
                q = p
                while q < L and a[q]:
                    q += 1
                if q - p >= 2:
                    bs.append((float(p), float(q)))
                p = q
            else:
                p += 1
        out.append(bs)
    return out


x_tr, b_tr = make_strips(2000)
x_va, b_va = make_strips(300)
c_tr, r_tr = encode(b_tr)
c_va, r_va = encode(b_va)
X_tr, C_tr, R_tr = mx.array(x_tr), mx.array(c_tr), mx.array(r_tr)
X_va, C_va, R_va = mx.array(x_va), mx.array(c_va), mx.array(r_va)
base_f1 = f1_at_half(threshold_detector(x_va), b_va)
print("== data")
print(f"   strips train/valid      {len(b_tr)}/{len(b_va)}")
print(f"   flaws per strip         {np.mean([len(b) for b in b_tr]):.2f}")
print(f"   positive samples        {c_tr.mean() * 100:.1f}%")
print(f"   gate detector F1@0.5    {base_f1 * 100:.1f}%")

TOTAL, HALF, WARM, BATCH, PEAK = 400, 200, 60, 32, 4e-3
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, PEAK, WARM), optim.cosine_decay(PEAK, TOTAL - WARM, 1e-5)], [WARM]
)


def build():
    m = Detector()
    o = optim.AdamW(learning_rate=schedule, weight_decay=1e-4)
    return m, o


def evaluate(m):
    total, (lc, li) = losses(m, X_va, C_va, R_va)
    logits, dist = m(X_va)
    f1 = f1_at_half(decode(logits, dist), b_va)
    return total.item(), lc.item(), li.item(), f1


mx.random.seed(5)
model, opt = build()
vg = nn.value_and_grad(model, lambda m, x, c, r: losses(m, x, c, r)[0])

_, g0 = vg(model, X_tr[:BATCH], C_tr[:BATCH], R_tr[:BATCH])
leaves = tree_flatten(g0)
dead = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
print("== gradient check")
print(f"   leaves {len(leaves)}, all-zero {dead if dead else 'none'}")

v0 = evaluate(model)
print("== untrained")
print(f"   valid total {v0[0]:.4f}  focal {v0[1]:.4f}  iou {v0[2]:.4f}  F1@0.5 {v0[3] * 100:.1f}%")

cursor, perm = 0, rng.permutation(len(b_tr))


def next_batch():
    global cursor, perm
    if cursor + BATCH > len(perm):
        cursor, perm = 0, rng.permutation(len(b_tr))
    idx = mx.array(perm[cursor:cursor + BATCH])
    cursor += BATCH
    return X_tr[idx], C_tr[idx], R_tr[idx]


def run(model, opt, vg, start, stop, t0):
    win = []
    for step in range(start, stop + 1):
        loss, grads = vg(model, *next_batch())
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        lr_now = float(opt.learning_rate)
        win.append(loss.item())
        if step == 1 or step % 50 == 0:
            tot, lc, li, f1 = evaluate(model)
            print(f"   step {step:4d}  lr {lr_now:.2e}  train {np.mean(win):.4f}  valid {tot:.4f}"
                  f"  (focal {lc:.4f} iou {li:.4f})  F1@0.5 {f1 * 100:5.1f}%  {time.time() - t0:5.1f}s")
            win = []


t0 = time.time()
print("== stage 1")
run(model, opt, vg, 1, HALF, t0)

ckpt = tempfile.mkdtemp(None, "railhead_")
model.save_weights(os.path.join(ckpt, "model.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
saved_valid = evaluate(model)[0]
del model, opt, vg
print(f"== checkpoint  {ckpt}  valid {saved_valid:.4f}")

model, opt = build()
model.load_weights(os.path.join(ckpt, "model.safetensors"))
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
vg = nn.value_and_grad(model, lambda m, x, c, r: losses(m, x, c, r)[0])
restored = evaluate(model)[0]
print(f"== resumed  valid {restored:.4f}  (saved {saved_valid:.4f})  opt step {int(opt.state['step'])}"
      f"  lr {float(opt.learning_rate):.2e}")
print("== stage 2")
run(model, opt, vg, HALF + 1, TOTAL, t0)

final = evaluate(model)
print("== done")
print(f"   valid F1@0.5 {final[3] * 100:.1f}%  vs gate detector {base_f1 * 100:.1f}%")
shutil.rmtree(ckpt, ignore_errors=True)
