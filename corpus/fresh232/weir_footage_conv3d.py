# Fish-pass camera at a river weir: classify short greyscale clips by how the
# fish moves through the frame (upstream, downstream, rising, sounding, milling).
# Tiny 3-D conv net over (frames, height, width); trains, checkpoints half way,
# resumes from the checkpoint in a fresh process-like setup, and finishes.
import os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

T, H, W = 8, 12, 12
CLASSES = ["upstream", "downstream", "rising", "sounding", "milling"]
rng = np.random.default_rng(7)


def make_clips(n):
    ys = rng.integers(0, 5, size=n)
    clips = np.zeros((n, T, H, W, 1), dtype=np.float32)
    yy, xx = np.mgrid[0:H, 0:W]
    for i, c in enumerate(ys):
        x0, y0 = rng.uniform(4, 8, size=2)
        speed = rng.uniform(0.8, 1.3)
        dx, dy = {0: (speed, 0), 1: (-speed, 0), 2: (0, -speed), 3: (0, speed), 4: (0, 0)}[int(c)]
        x0 -= dx * (T - 1) / 2
        y0 -= dy * (T - 1) / 2
        for t in range(T):
            jx, jy = rng.normal(0, 0.35 if c == 4 else 0.15, size=2)
            cx, cy = x0 + dx * t + jx, y0 + dy * t + jy
            blob = np.exp(-((xx - cx) ** 2 / 4.0 + (yy - cy) ** 2 / 1.5))
            clips[i, t, :, :, 0] = blob + rng.normal(0, 0.4, size=(H, W))
    return mx.array(clips), mx.array(ys.astype(np.int32))


class ClipNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv3d(1, 8, kernel_size=3, padding=1)
        self.c2 = nn.Conv3d(8, 16, kernel_size=3, stride=2, padding=1)
        self.c3 = nn.Conv3d(16, 24, kernel_size=3, stride=2, padding=1)
        self.head = nn.Linear(24, 5)

    def __call__(self, x):
        x = nn.relu(self.c1(x))
        x = nn.relu(self.c2(x))
        x = nn.relu(self.c3(x))
        return self.head(x.mean(axis=(1, 2, 3)))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def evaluate(model, x, y):
    logits = model(x)
    ce = nn.losses.cross_entropy(logits, y, reduction="mean")
    acc = (mx.argmax(logits, axis=1) == y).astype(mx.float32).mean()
    return ce.item(), 100.0 * acc.item()


def build(steps_total, warm):
    model = ClipNet()
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, steps_total - warm, 1e-4)],
        [warm],
    )
    return model, optim.Adam(learning_rate=sched)


xtr, ytr = make_clips(720)
xva, yva = make_clips(240)
x_rev = xva[:, ::-1]
BATCH, EPOCHS, WARM = 40, 5, 36
steps_per_epoch = xtr.shape[0] // BATCH
TOTAL = EPOCHS * steps_per_epoch

mx.random.seed(3)
model, opt = build(TOTAL, WARM)
step_fn = nn.value_and_grad(model, loss_fn)
print("epoch\tstep\tlr\ttrain_ce\tval_ce\tval_acc%\treversed_acc%\tsecs")
ce0, acc0 = evaluate(model, xva, yva)
print(f"0\t0\t{0.0:.2e}\t-\t{ce0:.4f}\t{acc0:.1f}\t-\t0.0   (chance 20.0%)")

ckpt_dir = tempfile.mkdtemp()
t0 = time.time()
step = 0
epoch = 1
while epoch <= EPOCHS:
    perm = mx.array(rng.permutation(xtr.shape[0]))
    run = 0.0
    for b in range(steps_per_epoch):
        idx = perm[b * BATCH:(b + 1) * BATCH]
        lr_now = opt.learning_rate.item()
        loss, grads = step_fn(model, xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step == 0:
            zero = [k for k, g in tree_flatten(grads) if float(mx.abs(g).max()) == 0.0]
            print(f"# first update lr={lr_now:.1f}, gradient leaves={len(tree_flatten(grads))}, all-zero leaves={zero}")
        run += loss.item()
        step += 1
    ce, acc = evaluate(model, xva, yva)
    _, racc = evaluate(model, x_rev, yva)
    print(f"{epoch}\t{step}\t{opt.learning_rate.item():.2e}\t{run / steps_per_epoch:.4f}\t{ce:.4f}\t{acc:.1f}\t{racc:.1f}\t{time.time() - t0:.1f}")
    if epoch == 2:
        wpath = os.path.join(ckpt_dir, "clipnet.safetensors")
        opath = os.path.join(ckpt_dir, "adam.safetensors")
        model.save_weights(wpath)
        mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
        print(f"# checkpoint written after epoch 2 (step {step}); rebuilding model and optimizer from disk")
        model, opt = build(TOTAL, WARM)
        model.load_weights(wpath)
        opt.state = tree_unflatten(list(mx.load(opath).items()))
        step_fn = nn.value_and_grad(model, loss_fn)
        ce_r, acc_r = evaluate(model, xva, yva)
        print(f"# resumed at step {int(opt.state['step'].item())}: val_ce {ce_r:.4f} val_acc {acc_r:.1f}% lr {opt.learning_rate.item():.2e}")
    epoch += 1

print("per-class val accuracy %:", {c: round(100.0 * float(((mx.argmax(model(xva), 1) == yva) & (yva == k)).sum().item()) / max(1, int((yva == k).sum().item())), 1) for k, c in enumerate(CLASSES)})
print(f"done in {time.time() - t0:.1f}s")
