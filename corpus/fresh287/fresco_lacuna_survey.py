"""Fresco condition survey: per-pixel map of intact paint / plaster loss / crack.

Synthetic 12x12 RGB patches (NHWC). Pixels under old retouching are labelled 255
and left out of the loss and the metrics. Training runs in two sessions: the first
stops after epoch 5 and writes a checkpoint, the second rebuilds everything from
that checkpoint and carries on.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

IGNORE = 255
NAMES = ["paint", "loss", "crack"]
H = W = 12


def make_patches(n, rng):
    imgs = np.zeros((n, H, W, 3), np.float32)
    labels = np.zeros((n, H, W), np.int32)
    yy, xx = np.mgrid[0:H, 0:W]
    for i in range(n):
        base = rng.uniform(0.35, 0.8, size=3)
        img = np.broadcast_to(base, (H, W, 3)).copy()
        img += 0.05 * np.sin(xx / rng.uniform(2, 5))[..., None]
        lab = np.zeros((H, W), np.int32)
        for _ in range(rng.integers(0, 3)):
            cy, cx = rng.uniform(2, 10, size=2)
            ry, rx = rng.uniform(1.2, 3.2, size=2)
            m = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1
            img[m] = np.array([0.86, 0.83, 0.76]) + rng.normal(0, 0.03, 3)
            lab[m] = 1
        if rng.random() < 0.7:
            x0, slope = rng.uniform(0, W), rng.uniform(-0.8, 0.8)
            for y in range(H):
                x = int(np.clip(round(x0 + slope * y), 0, W - 1))
                img[y, x] = 0.12 + rng.normal(0, 0.03, 3)
                lab[y, x] = 2
        img += rng.normal(0, 0.04, img.shape)
        if rng.random() < 0.3:
            y0, x0 = rng.integers(0, H - 4, size=2)
            lab[y0:y0 + 4, x0:x0 + 4] = IGNORE
            img[y0:y0 + 4, x0:x0 + 4] = 0.5 * img[y0:y0 + 4, x0:x0 + 4] + 0.25
        imgs[i], labels[i] = img, lab
    return imgs, labels


class Block(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.c2 = nn.Conv2d(cout, cout, 3, padding=1)

    def __call__(self, x):
        return nn.relu(self.c2(nn.relu(self.c1(x))))


class TinyUNet(nn.Module):
    def __init__(self, n_cls=3):
        super().__init__()
        self.enc = Block(3, 8)
        self.down = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.mid = Block(16, 16)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.dec = Block(24, 8)
        self.head = nn.Conv2d(8, n_cls, 1)

    def __call__(self, x):
        e = self.enc(x)
        m = self.mid(nn.relu(self.down(e)))
        d = self.dec(mx.concatenate([self.up(m), e], axis=-1))
        return self.head(d)


def weighted_ce(model, x, y, class_w):
    logits = model(x)
    valid = y != IGNORE
    y_safe = mx.where(valid, y, 0)
    per_px = nn.losses.cross_entropy(logits, y_safe, reduction="none")
    w = class_w[y_safe] * valid
    return (per_px * w).sum() / mx.maximum(w.sum(), 1e-6)


def confusion(pred, y, k=3):
    valid = y != IGNORE
    idx = y[valid] * k + pred[valid]
    return np.bincount(idx, minlength=k * k).reshape(k, k)


def iou_from(cm):
    inter = np.diag(cm).astype(float)
    union = cm.sum(0) + cm.sum(1) - np.diag(cm)
    return inter / np.maximum(union, 1)


def evaluate(model, x, y, class_w):
    logits = model(x)
    pred = np.array(mx.argmax(logits, axis=-1))
    loss = weighted_ce(model, x, y, class_w).item()
    return loss, iou_from(confusion(pred, np.array(y)))


def build(total_steps):
    model = TinyUNet()
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 4e-3, 40),
         optim.cosine_decay(4e-3, total_steps - 40, 1e-4)], [40])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    return model, opt


def run_session(model, opt, class_w, xtr, ytr, xva, yva, epochs, rng, bs, log):
    loss_and_grad = nn.value_and_grad(model, weighted_ce)
    n = xtr.shape[0]
    for ep in epochs:
        t0 = time.perf_counter()
        perm = rng.permutation(n)
        tot, cnt = 0.0, 0
        for b in range(0, n - bs + 1, bs):
            idx = mx.array(perm[b:b + bs])
            loss, grads = loss_and_grad(model, xtr[idx], ytr[idx], class_w)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            if int(opt.state["step"].item()) == 1:
                lr_now = opt.learning_rate.item()
                log(f"first update ran at lr {lr_now:.6f} (warm-up starts at zero); "
                    f"batch wce {loss.item():.4f}")
            tot += loss.item()
            cnt += 1
        vloss, ious = evaluate(model, xva, yva, class_w)
        log(f"epoch {ep:2d} | lr {float(opt.learning_rate.item()):.5f} | train wce {tot / cnt:.4f} | "
            f"val wce {vloss:.4f} | IoU " + " ".join(f"{n_}={v:.3f}" for n_, v in zip(NAMES, ious))
            + f" | mIoU {ious.mean():.3f} | {time.perf_counter() - t0:.1f}s")


def main():
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    xtr_np, ytr_np = make_patches(640, rng)
    xva_np, yva_np = make_patches(200, rng)
    xtr, ytr, xva, yva = map(mx.array, (xtr_np, ytr_np, xva_np, yva_np))

    lab = ytr_np[ytr_np != IGNORE]
    freq = np.bincount(lab, minlength=3) / lab.size
    class_w = mx.array((1.0 / np.sqrt(freq)) / (1.0 / np.sqrt(freq)).mean(), dtype=mx.float32)
    print("pixel share  " + "  ".join(f"{n}={f:.3f}" for n, f in zip(NAMES, freq))
          + f"  ignored={np.mean(ytr_np == IGNORE):.3f}")
    print("class weights " + " ".join(f"{v:.3f}" for v in np.array(class_w)))

    base_cm = confusion(np.zeros_like(yva_np), yva_np)
    base_iou = iou_from(base_cm)
    print(f"reference: always-'paint' mIoU {base_iou.mean():.3f} (paint IoU {base_iou[0]:.3f})")

    bs, epochs = 32, 12
    total = epochs * (xtr_np.shape[0] // bs)
    ckpt_dir = tempfile.mkdtemp(None, "fresco_")
    w_path = os.path.join(ckpt_dir, "weights.safetensors")
    o_path = os.path.join(ckpt_dir, "optimizer.safetensors")

    model, opt = build(total)
    vloss, ious = evaluate(model, xva, yva, class_w)
    print(f"untrained: val wce {vloss:.4f}  mIoU {ious.mean():.3f}")

    print("-- session 1")
    run_session(model, opt, class_w, xtr, ytr, xva, yva, range(1, 6),
                rng, bs, print)
    model.save_weights(w_path)
    mx.save_safetensors(o_path, dict(tree_flatten(opt.state)))
    print(f"checkpoint written after step {int(opt.state['step'].item())}")
    before = evaluate(model, xva, yva, class_w)[0]
    del model, opt

    print("-- session 2 (fresh process state, restored from checkpoint)")
    model, opt = build(total)
    model.load_weights(w_path)
    opt.init(model.trainable_parameters())
    opt.state = tree_unflatten(list(mx.load(o_path).items()))
    mx.eval(model.parameters(), opt.state)
    after = evaluate(model, xva, yva, class_w)[0]
    print(f"restored at step {int(opt.state['step'].item())}: val wce {after:.4f} "
          f"(before save {before:.4f})")
    run_session(model, opt, class_w, xtr, ytr, xva, yva, range(6, epochs + 1),
                rng, bs, print)

    vloss, ious = evaluate(model, xva, yva, class_w)
    print(f"final: val wce {vloss:.4f}  mIoU {ious.mean():.3f} vs reference "
          f"{base_iou.mean():.3f}")


if __name__ == "__main__":
    main()
