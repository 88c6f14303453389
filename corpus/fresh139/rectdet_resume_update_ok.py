"""Tiny single-object 'DETR-lite' on synthetic 16x16 frames: predict the box
(cx, cy, w, h in [0,1]) and whether the rectangle is filled or hollow.
Train a few epochs, write a complete checkpoint, then resume from it in a
fresh model/optimizer (as after a restart) and keep training."""
import os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

S = 16
rng = np.random.default_rng(7)
mx.random.seed(0)


def make_split(n):
    imgs = np.zeros((n, S, S), np.float32)
    boxes = np.zeros((n, 4), np.float32)
    labels = np.zeros((n,), np.int32)
    for i in range(n):
        w, h = rng.integers(4, 11, size=2)
        x0 = rng.integers(0, S - w + 1)
        y0 = rng.integers(0, S - h + 1)
        filled = rng.random() < 0.5
        if filled:
            imgs[i, y0:y0 + h, x0:x0 + w] = 1.0
        else:
            imgs[i, y0, x0:x0 + w] = 1.0
            imgs[i, y0 + h - 1, x0:x0 + w] = 1.0
            imgs[i, y0:y0 + h, x0] = 1.0
            imgs[i, y0:y0 + h, x0 + w - 1] = 1.0
        imgs[i] += 0.1 * rng.standard_normal((S, S))
        boxes[i] = [(x0 + w / 2) / S, (y0 + h / 2) / S, w / S, h / S]
        labels[i] = int(filled)
    return mx.array(imgs.reshape(n, -1)), mx.array(boxes), mx.array(labels)


class DetrLite(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Linear(S * S, 128), nn.GELU(), nn.Linear(128, 64), nn.GELU())
        self.bbox_embed = nn.Linear(64, 4)
        self.class_embed = nn.Linear(64, 2)

    def __call__(self, x):
        h = self.backbone(x)
        return mx.sigmoid(self.bbox_embed(h)), self.class_embed(h)


def criterion(model, x, boxes, labels):
    pb, logits = model(x)
    loss_bbox = mx.mean(mx.sum(mx.abs(pb - boxes), axis=-1))
    loss_ce = mx.mean(nn.losses.cross_entropy(logits, labels))
    return loss_bbox * 5.0 + loss_ce, (loss_bbox, loss_ce)


def box_iou(a, b):
    ax0, ay0 = a[:, 0] - a[:, 2] / 2, a[:, 1] - a[:, 3] / 2
    ax1, ay1 = a[:, 0] + a[:, 2] / 2, a[:, 1] + a[:, 3] / 2
    bx0, by0 = b[:, 0] - b[:, 2] / 2, b[:, 1] - b[:, 3] / 2
    bx1, by1 = b[:, 0] + b[:, 2] / 2, b[:, 1] + b[:, 3] / 2
    iw = mx.maximum(mx.minimum(ax1, bx1) - mx.maximum(ax0, bx0), 0)
    ih = mx.maximum(mx.minimum(ay1, by1) - mx.maximum(ay0, by0), 0)
    inter = iw * ih
    return inter / (a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter)


def evaluate(model, x, boxes, labels):
    pb, logits = model(x)
    iou = box_iou(pb, boxes)
    hit = (iou > 0.5) & (mx.argmax(logits, axis=-1) == labels)
    return mx.mean(iou).item(), mx.mean(hit.astype(mx.float32)).item()


def save_complete_state(out_dir, model, optimizer, epoch):
    model.save_weights(os.path.join(out_dir, "model.safetensors"))
    mx.save_safetensors(os.path.join(out_dir, "optimizer.safetensors"),
                        dict(tree_flatten(optimizer.state)))
    with open(os.path.join(out_dir, "epoch.txt"), "w") as f:
        f.write(str(epoch))


def load_complete_state(out_dir):
    model_weights = tree_flatten(mx.load(os.path.join(out_dir, "model.safetensors")))
    optimizer_state = tree_unflatten(list(mx.load(os.path.join(out_dir, "optimizer.safetensors")).items()))
    with open(os.path.join(out_dir, "epoch.txt")) as f:
        epoch = int(f.read())
    return model_weights, optimizer_state, epoch


def train_one_epoch(model, optimizer, step_fn, x, boxes, labels, epoch, bs=64):
    n = x.shape[0]
    perm = mx.array(rng.permutation(n))
    nb = n // bs
    tot = 0.0
    for it in range(nb):
        idx = perm[it * bs:(it + 1) * bs]
        (loss, (lb, lc)), grads = step_fn(model, x[idx], boxes[idx], labels[idx])
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state, loss)
        tot += loss.item()
        if it % 10 == 0 or it == nb - 1:
            print(f"Epoch: [{epoch}]  [{it:2d}/{nb}]  lr: {optimizer.learning_rate.item():.6f}  "
                  f"loss: {loss.item():.4f}  loss_bbox: {lb.item():.4f}  loss_ce: {lc.item():.4f}")
    return tot / nb


def build():
    model = DetrLite()
    mx.eval(model.parameters())
    optimizer = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)
    step_fn = nn.value_and_grad(model, criterion)
    return model, optimizer, step_fn


def main():
    t0 = time.time()
    xtr, btr, ltr = make_split(2560)
    xva, bva, lva = make_split(512)
    ckpt_dir = tempfile.mkdtemp(prefix="detr_lite_")

    # ---- run 1: train, checkpoint ----
    model, optimizer, step_fn = build()
    for epoch in range(4):
        avg = train_one_epoch(model, optimizer, step_fn, xtr, btr, ltr, epoch)
        miou, acc = evaluate(model, xva, bva, lva)
        print(f"Averaged stats: loss {avg:.4f} | val mIoU {miou:.3f} | AP50-ish {acc * 100:.1f}%")
    save_complete_state(ckpt_dir, model, optimizer, 4)
    print(f"checkpoint written to {ckpt_dir}")

    # ---- run 2: fresh process state, resume from checkpoint ----
    model, optimizer, step_fn = build()
    model_weights, optimizer_state, start_epoch = load_complete_state(ckpt_dir)
    model.load_weights(model_weights)
    optimizer.state = optimizer_state
    mx.eval(model.parameters(), optimizer.state)
    miou, acc = evaluate(model, xva, bva, lva)
    print(f"Resumed at epoch {start_epoch}: val mIoU {miou:.3f} | AP50-ish {acc * 100:.1f}%")
    for epoch in range(start_epoch, start_epoch + 4):
        avg = train_one_epoch(model, optimizer, step_fn, xtr, btr, ltr, epoch)
        miou, acc = evaluate(model, xva, bva, lva)
        print(f"Averaged stats: loss {avg:.4f} | val mIoU {miou:.3f} | AP50-ish {acc * 100:.1f}%")
    print(f"Training time {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
