"""Solar-cell electroluminescence (EL) inspection with a tiny Vision Transformer.

Synthetic 16x16 EL images of single cells, 4 classes:
  0 intact, 1 micro-crack, 2 finger interruption, 3 dark (inactive) region.
Training labels carry 8% operator-labelling noise, validation labels are clean.

Schedule: linear warmup that starts at exactly lr=0, then cosine decay.
The run is split in two sessions: session 1 trains 6 epochs and writes a
checkpoint (weights + optimizer state), session 2 builds fresh objects,
loads the checkpoint and continues to epoch 12.  Between reports the loop is
quiet (a report every 3 epochs).
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SEED = 11
H = W = 16
P = 4
N_CLASSES = 4
NAMES = ["intact", "crack", "finger", "dark"]


def make_cells(n, rng):
    X = np.zeros((n, H, W, 1), dtype=np.float32)
    y = rng.integers(0, N_CLASSES, size=n)
    rows, cols = np.mgrid[0:H, 0:W]
    for i in range(n):
        img = np.full((H, W), 0.75 + rng.normal(0, 0.05), dtype=np.float32)
        img[[5, 10], :] -= 0.35  # busbars
        c = y[i]
        if c == 1:
            slope = rng.uniform(-1.5, 1.5)
            off = rng.uniform(3, 12)
            d = np.abs(rows - (slope * (cols - 8) + off)) / np.sqrt(1 + slope ** 2)
            img -= 0.45 * (d < 0.7)
        elif c == 2:
            bar = rng.choice([5, 10])
            c0 = rng.integers(1, 12)
            side = rng.choice([-1, 1])
            r0, r1 = sorted((bar + side, bar + 2 * side))
            img[r0:r1 + 1, c0:c0 + 4] -= 0.4
        elif c == 3:
            r0, c0 = rng.integers(0, 9, size=2)
            img[r0:r0 + 8, c0:c0 + 8] *= 0.45
        img += rng.normal(0, 0.08, size=(H, W))
        X[i, :, :, 0] = img
    return X, y


class Block(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.n1 = nn.LayerNorm(dim)
        self.attn = nn.MultiHeadAttention(dim, heads)
        self.n2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def __call__(self, x):
        h = self.n1(x)
        x = x + self.attn(h, h, h)
        return x + self.mlp(self.n2(x))


class TinyViT(nn.Module):
    def __init__(self, dim=32, depth=2, heads=4):
        super().__init__()
        self.patch = nn.Conv2d(1, dim, kernel_size=P, stride=P)
        n_tok = (H // P) * (W // P)
        self.cls = mx.zeros((1, 1, dim))
        self.pos = 0.02 * mx.random.normal((1, n_tok + 1, dim))
        self.blocks = [Block(dim, heads) for _ in range(depth)]
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, N_CLASSES)

    def __call__(self, x):
        t = self.patch(x)
        B = t.shape[0]
        t = t.reshape(B, -1, t.shape[-1])
        t = mx.concatenate([mx.broadcast_to(self.cls, (B, 1, t.shape[-1])), t], axis=1) + self.pos
        for blk in self.blocks:
            t = blk(t)
        return self.head(self.norm(t[:, 0]))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def evaluate(model, X, y):
    pred = np.concatenate([np.array(mx.argmax(model(mx.array(X[i:i + 128])), axis=1))
                           for i in range(0, len(X), 128)])
    acc = float((pred == y).mean())
    per = [float((pred[y == c] == c).mean()) for c in range(N_CLASSES)]
    return acc, per


def make_schedule(peak, warm, total):
    warmup = optim.linear_schedule(0.0, peak, warm)
    decay = optim.cosine_decay(peak, total - warm, end=peak * 0.02)
    return optim.join_schedules([warmup, decay], [warm])


def run_epochs(model, opt, Xtr, ytr, rng, start, stop, bs, Xva, yva, tag):
    step_fn = nn.value_and_grad(model, loss_fn)
    for epoch in range(start, stop + 1):
        perm = rng.permutation(len(Xtr))
        tot, nb = 0.0, 0
        for s in range(0, len(perm) - bs + 1, bs):
            idx = perm[s:s + bs]
            loss, grads = step_fn(model, mx.array(Xtr[idx]), mx.array(ytr[idx]))
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            nb += 1
        if epoch % 3 == 0:
            acc, per = evaluate(model, Xva, yva)
            per_s = " ".join(f"{NAMES[c]}={per[c]:.2f}" for c in range(N_CLASSES))
            print(f"[{tag}] epoch {epoch:2d} step {int(opt.step.item()):4d} "
                  f"lr {opt.learning_rate.item():.2e} | train CE {tot / nb:.4f} | "
                  f"val acc {acc:.3f} ({per_s})")


def main():
    rng = np.random.default_rng(SEED)
    mx.random.seed(SEED)
    Xtr, ytr_clean = make_cells(1536, rng)
    Xva, yva = make_cells(512, rng)
    flip = rng.random(len(ytr_clean)) < 0.08
    ytr = ytr_clean.copy()
    ytr[flip] = rng.integers(0, N_CLASSES, size=flip.sum())
    mean, std = Xtr.mean(), Xtr.std()
    Xtr = (Xtr - mean) / std
    Xva = (Xva - mean) / std
    maj = float((yva == np.bincount(ytr).argmax()).mean())
    print(f"EL cells: train={len(Xtr)} (label noise {flip.mean():.1%}) val={len(Xva)}; "
          f"majority-class val acc {maj:.3f}, chance 0.250")

    bs, epochs, half = 64, 12, 6
    steps_per_epoch = len(Xtr) // bs
    total = epochs * steps_per_epoch
    sched = make_schedule(2e-3, 2 * steps_per_epoch, total)
    print(f"schedule: lr(0)={sched(mx.array(0)).item():.1e} "
          f"lr(warm end)={sched(mx.array(2 * steps_per_epoch)).item():.1e} "
          f"lr(end)={sched(mx.array(total)).item():.1e}, {total} steps")

    t0 = time.time()
    model = TinyViT()
    mx.eval(model.parameters())
    opt = optim.AdamW(learning_rate=sched, weight_decay=0.05)
    run_epochs(model, opt, Xtr, ytr, rng, 1, half, bs, Xva, yva, "session 1")

    ckdir = tempfile.mkdtemp(prefix="elcell_")
    wpath = os.path.join(ckdir, "vit.safetensors")
    opath = os.path.join(ckdir, "opt.safetensors")
    model.save_weights(wpath)
    mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
    acc_saved, _ = evaluate(model, Xva, yva)
    print(f"checkpoint written after epoch {half} (val acc {acc_saved:.3f})")
    del model, opt

    model = TinyViT()
    model.load_weights(wpath)
    opt = optim.AdamW(learning_rate=sched, weight_decay=0.05)
    opt.state = tree_unflatten(list(mx.load(opath).items()))
    acc_loaded, _ = evaluate(model, Xva, yva)
    print(f"resumed at step {int(opt.step.item())} (val acc {acc_loaded:.3f})")
    run_epochs(model, opt, Xtr, ytr, rng, half + 1, epochs, bs, Xva, yva, "session 2")

    acc, per = evaluate(model, Xva, yva)
    tr_acc_clean, _ = evaluate(model, Xtr, ytr_clean)
    tr_acc_noisy, _ = evaluate(model, Xtr, ytr)
    print(f"final: val acc {acc:.3f} vs majority {maj:.3f}; train acc vs given labels "
          f"{tr_acc_noisy:.3f}, vs clean labels {tr_acc_clean:.3f}")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
