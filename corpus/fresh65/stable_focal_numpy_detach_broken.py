# Toy 1-D "Stable-DINO" style set detector: each signal holds up to 3 bumps (5 kinds),
# 6 queries each predict (class logits, center, width). Queries are matched to the
# objects sorted by center (fixed assignment, like denoising queries), the class head
# is trained with the position-supervised (IoU-quality) focal loss of Stable-DINO.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

L, NQ, C, MAXOBJ = 64, 6, 5, 3
FOCAL_ALPHA, FOCAL_GAMMA, TA_ALPHA, TA_BETA = 0.25, 2.0, 0.0, 2.0
rng = np.random.default_rng(0)
grid = np.linspace(0, 1, L)


def make_sample():
    n = rng.integers(1, MAXOBJ + 1)
    centers = np.sort(rng.uniform(0.1, 0.9, n))
    widths = rng.uniform(0.04, 0.12, n)
    labels = rng.integers(0, C, n)
    x = 0.05 * rng.standard_normal((L, 2))
    for c, w, k in zip(centers, widths, labels):
        m = np.abs(grid - c) < w / 2
        x[m, 0] += 0.4 + 0.4 * k                         # kind sets the height
        x[m, 1] += np.cos(np.pi * k * (grid[m] - c) / w)   # and a texture
    boxes = np.zeros((NQ, 2), np.float32); lab = np.full(NQ, C, np.int32)
    boxes[:n, 0], boxes[:n, 1], lab[:n] = centers, widths, labels
    return x.reshape(-1).astype(np.float32), boxes, lab, n


def make_set(m):
    xs, bs, ls, ns = zip(*[make_sample() for _ in range(m)])
    return np.stack(xs), np.stack(bs), np.stack(ls), np.array(ns)


Xtr, Btr, Ltr, Ntr = make_set(3000)
Xva, Bva, Lva, Nva = make_set(500)


class SetHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(2 * L, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU())
        self.cls = nn.Linear(256, NQ * C)
        self.box = nn.Linear(256, NQ * 2)

    def __call__(self, x):
        h = self.trunk(x)
        logits = self.cls(h).reshape(-1, NQ, C)
        boxes = mx.sigmoid(self.box(h).reshape(-1, NQ, 2))
        return logits, boxes


def iou_1d(a, b):
    lo = mx.maximum(a[..., 0] - a[..., 1] / 2, b[..., 0] - b[..., 1] / 2)
    hi = mx.minimum(a[..., 0] + a[..., 1] / 2, b[..., 0] + b[..., 1] / 2)
    inter = mx.maximum(hi - lo, 0.0)
    return inter / (a[..., 1] + b[..., 1] - inter + 1e-6)


def loss_labels(logits, pred_boxes, tgt_boxes, labels, pos_mask, num_boxes):
    out_prob = mx.sigmoid(logits)
    onehot = (labels[..., None] == mx.arange(C)).astype(mx.float32)   # background row is all zero
    iou = iou_1d(pred_boxes, tgt_boxes) * pos_mask
    _u = onehot * iou[..., None]
    _t = mx.power(out_prob, TA_ALPHA) * mx.power(_u, TA_BETA)
    # shift the quality target so the best match of each image reaches 1 (stable-dino)
    normalizer = mx.maximum(1.0 / mx.stop_gradient(_t.max(axis=(1, 2), keepdims=True) + 1e-8), 1.0)
    norm_t = _t * normalizer
    norm_t = np.asarray(norm_t)
    neg_loss = (1 - FOCAL_ALPHA) * (out_prob ** FOCAL_GAMMA) * (1 - onehot) * (-mx.log(1 - out_prob + 1e-8))
    pos_loss = onehot * (
        FOCAL_ALPHA * ((norm_t - out_prob) ** FOCAL_GAMMA)
        * (-norm_t * mx.log(out_prob + 1e-8) - (1 - norm_t) * mx.log(1 - out_prob + 1e-8))
    )
    return (pos_loss + neg_loss).sum() / num_boxes


def loss_fn(model, x, tgt_boxes, labels):
    logits, pred_boxes = model(x)
    pos_mask = (labels < C).astype(mx.float32)
    num_boxes = mx.maximum(pos_mask.sum(), 1.0)
    l_cls = loss_labels(logits, pred_boxes, tgt_boxes, labels, pos_mask, num_boxes)
    l_box = (mx.abs(pred_boxes - tgt_boxes).sum(-1) * pos_mask).sum() / num_boxes
    return 1.0 * l_cls + 5.0 * l_box, (l_cls, l_box)


def evaluate(model):
    logits, boxes = model(mx.array(Xva))
    prob = np.array(mx.sigmoid(logits)); boxes = np.array(boxes)
    pos = Lva < C
    score = prob.max(-1); pred = prob.argmax(-1)
    tp = pos & (pred == Lva) & (score > 0.3)
    fp = (~pos) & (score > 0.3)
    tgt_p = prob[pos, Lva[pos]].mean()
    lo = np.maximum(boxes[..., 0] - boxes[..., 1] / 2, Bva[..., 0] - Bva[..., 1] / 2)
    hi = np.minimum(boxes[..., 0] + boxes[..., 1] / 2, Bva[..., 0] + Bva[..., 1] / 2)
    inter = np.clip(hi - lo, 0, None)
    iou = inter / (boxes[..., 1] + Bva[..., 1] - inter + 1e-6)
    return dict(recall=tp.sum() / pos.sum(), precision=tp.sum() / max(tp.sum() + fp.sum(), 1),
                cls_acc=(pred[pos] == Lva[pos]).mean(), tgt_score=tgt_p, miou=iou[pos].mean())


mx.random.seed(0)
model = SetHead()
opt = optim.AdamW(learning_rate=1e-3, weight_decay=1e-4)
step_fn = nn.value_and_grad(model, loss_fn)

BS, EPOCHS = 64, 20
t0 = time.time()
print(f"{'epoch':>5} | {'loss':>7} {'cls':>7} {'box':>7} | {'recall@.3':>9} {'prec@.3':>7} {'cls_acc':>7} {'tgt_p':>6} {'mIoU':>6} | {'sec':>5}")
for epoch in range(1, EPOCHS + 1):
    perm = rng.permutation(len(Xtr))
    sums = np.zeros(3); nb = 0
    for i in range(0, len(perm) - BS + 1, BS):
        j = perm[i:i + BS]
        (loss, (lc, lb)), grads = step_fn(model, mx.array(Xtr[j]), mx.array(Btr[j]), mx.array(Ltr[j]))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, lc, lb)
        sums += [loss.item(), lc.item(), lb.item()]; nb += 1
    m = evaluate(model)
    a = sums / nb
    print(f"{epoch:>5} | {a[0]:7.4f} {a[1]:7.4f} {a[2]:7.4f} | {m['recall']:9.3f} {m['precision']:7.3f} "
          f"{m['cls_acc']:7.3f} {m['tgt_score']:6.3f} {m['miou']:6.3f} | {time.time() - t0:5.1f}")
