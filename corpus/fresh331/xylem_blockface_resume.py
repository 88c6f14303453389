"""Wood anatomy: classify tree-ring cross-section patches.

Four classes seen on sanded blockface scans of conifer cores:
  0 normal ring boundary, 1 frost ring, 2 fire scar, 3 false (intra-annual) ring.
Patches are 16x16 grayscale, channels-last (N, H, W, C) as MLX convolutions expect.

Run layout: SGD + momentum, learning rate warms up linearly from exactly 0, then
cosine-decays.  Half-way through, the run writes a checkpoint (weights, BatchNorm
running statistics, optimizer state, step counter), throws everything away and
resumes from disk into freshly built objects, as a job restarted on a cluster would.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SEED = 7
H = W = 16
N_CLASSES = 4
CLASS_NAMES = ["normal", "frost", "firescar", "false"]
N_TRAIN, N_VALID = 2400, 600
BATCH = 48
EPOCHS = 8
WARMUP_STEPS = 60
PEAK_LR = 0.08
RESUME_AT_EPOCH = 4


def render_patches(n, rng):
    """Synthetic blockface scans: vertical growth rings with class-specific marks."""
    y = rng.integers(0, N_CLASSES, size=n)
    xs = np.arange(W)[None, :]
    rows = np.arange(H)[:, None]
    imgs = np.empty((n, H, W, 1), dtype=np.float32)
    for i in range(n):
        period = rng.uniform(4.5, 6.5)
        phase = rng.uniform(0, period)
        tilt = rng.uniform(-0.15, 0.15)
        pos = (xs + tilt * rows + phase) % period
        # earlywood light, latewood dark band at the end of each ring
        base = 0.75 - 0.55 * (pos > period - 1.3)
        img = base.astype(np.float32)
        c = y[i]
        if c == 1:  # frost ring: a row of collapsed dark cells inside earlywood
            col = int(rng.integers(3, W - 3))
            img[:, col] -= 0.35 + 0.1 * rng.standard_normal(H)
            img[:, col + 1] -= 0.15
        elif c == 2:  # fire scar: a dark wedge entering from one edge
            r0 = int(rng.integers(4, H - 4))
            width = rng.uniform(2.5, 5.0)
            side = rng.integers(0, 2)
            for r in range(H):
                depth = max(0.0, width - abs(r - r0)) * 1.6
                if side == 0:
                    img[r, : int(depth)] = 0.12
                else:
                    img[r, W - int(depth):] = 0.12
        elif c == 3:  # false ring: a faint extra latewood band mid-ring
            mid = (pos > period * 0.45) & (pos < period * 0.45 + 0.9)
            img = img - 0.25 * mid
        img = img * rng.uniform(0.8, 1.2) + rng.uniform(-0.1, 0.1)
        img = img + 0.09 * rng.standard_normal((H, W))
        imgs[i, :, :, 0] = img
    return imgs, y.astype(np.int32)


def augment(batch, rng):
    """Random left-right flip and +-2 px vertical roll (ring direction is arbitrary)."""
    out = batch.copy()
    flip = rng.random(len(out)) < 0.5
    out[flip] = out[flip, :, ::-1, :]
    shifts = rng.integers(-2, 3, size=len(out))
    for i, s in enumerate(shifts):
        if s:
            out[i] = np.roll(out[i], s, axis=0)
    return out


class BlockfaceNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 8, 3, padding=1)
        self.b1 = nn.BatchNorm(8)
        self.c2 = nn.Conv2d(8, 16, 3, padding=1)
        self.b2 = nn.BatchNorm(16)
        self.c3 = nn.Conv2d(16, 24, 3, padding=1)
        self.b3 = nn.BatchNorm(24)
        self.pool = nn.MaxPool2d(2, 2)
        self.head = nn.Linear(24, N_CLASSES)

    def __call__(self, x):
        x = self.pool(nn.relu(self.b1(self.c1(x))))   # 8x8
        x = self.pool(nn.relu(self.b2(self.c2(x))))   # 4x4
        x = nn.relu(self.b3(self.c3(x)))
        x = mx.mean(x, axis=(1, 2))
        return self.head(x)


def lr_schedule(total_steps):
    warm = optim.linear_schedule(0.0, PEAK_LR, WARMUP_STEPS)
    cos = optim.cosine_decay(PEAK_LR, total_steps - WARMUP_STEPS, 1e-4)
    return optim.join_schedules([warm, cos], [WARMUP_STEPS])


def build(total_steps):
    model = BlockfaceNet()
    opt = optim.SGD(learning_rate=lr_schedule(total_steps), momentum=0.9,
                    weight_decay=5e-4, nesterov=True)
    return model, opt


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def evaluate(model, x, y):
    model.eval()
    logits = model(mx.array(x))
    loss = nn.losses.cross_entropy(logits, mx.array(y), reduction="mean")
    pred = np.array(mx.argmax(logits, axis=1))
    model.train()
    acc = float((pred == y).mean())
    per_class = [float((pred[y == c] == c).mean()) for c in range(N_CLASSES)]
    return loss.item(), acc, per_class


def save_checkpoint(path, model, opt, epoch):
    model.save_weights(os.path.join(path, "model.safetensors"))
    state = dict(tree_flatten(opt.state))
    mx.save_safetensors(os.path.join(path, "optimizer.safetensors"), state)
    with open(os.path.join(path, "epoch.txt"), "w") as f:
        f.write(str(epoch))


def load_checkpoint(path, total_steps):
    model, opt = build(total_steps)
    model.load_weights(os.path.join(path, "model.safetensors"))
    flat = mx.load(os.path.join(path, "optimizer.safetensors"))
    opt.state = tree_unflatten(list(flat.items()))
    with open(os.path.join(path, "epoch.txt")) as f:
        epoch = int(f.read())
    return model, opt, epoch


def main():
    t0 = time.time()
    np.random.seed(SEED)
    mx.random.seed(SEED)
    rng = np.random.default_rng(SEED)
    xtr, ytr = render_patches(N_TRAIN, rng)
    xva, yva = render_patches(N_VALID, rng)
    mu, sd = xtr.mean(), xtr.std()
    xtr = (xtr - mu) / sd
    xva = (xva - mu) / sd
    majority = np.bincount(ytr, minlength=N_CLASSES).argmax()
    base_acc = float((yva == majority).mean())
    print(f"train {xtr.shape} valid {xva.shape} classes {np.bincount(ytr).tolist()}")
    print(f"majority-class baseline valid acc {base_acc:.3f}")

    steps_per_epoch = N_TRAIN // BATCH
    total_steps = steps_per_epoch * EPOCHS
    model, opt = build(total_steps)
    model.train()
    n_params = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    print(f"params {n_params}, steps/epoch {steps_per_epoch}, total {total_steps}")

    ckpt_dir = tempfile.mkdtemp()
    start_epoch = 0
    epoch = start_epoch
    while epoch < EPOCHS:
        if epoch == RESUME_AT_EPOCH and start_epoch == 0:
            save_checkpoint(ckpt_dir, model, opt, epoch)
            before = evaluate(model, xva, yva)
            del model, opt
            model, opt, start_epoch = load_checkpoint(ckpt_dir, total_steps)
            model.train()
            after = evaluate(model, xva, yva)
            print(f"-- checkpoint written and reloaded at epoch {start_epoch} "
                  f"(opt step {opt.step.item()}, lr {opt.learning_rate.item():.4f}); "
                  f"valid acc before {before[1]:.3f} after {after[1]:.3f}")
        loss_and_grad = nn.value_and_grad(model, loss_fn)
        perm = rng.permutation(N_TRAIN)
        run_loss, run_acc = 0.0, 0.0
        for s in range(steps_per_epoch):
            idx = perm[s * BATCH:(s + 1) * BATCH]
            xb = mx.array(augment(xtr[idx], rng))
            yb = mx.array(ytr[idx])
            loss, grads = loss_and_grad(model, xb, yb)
            opt.update(model, grads)
            mx.eval(model.parameters(), model.state, opt.state, loss)
            run_loss += loss.item()
        run_loss /= steps_per_epoch
        v_loss, v_acc, per_class = evaluate(model, xva, yva)
        lr_now = opt.learning_rate.item()
        if epoch % 2 == 0 or epoch == EPOCHS - 1:
            pc = " ".join(f"{n}={a:.2f}" for n, a in zip(CLASS_NAMES, per_class))
            print(f"epoch {epoch:2d} lr {lr_now:.4f} train_loss {run_loss:.4f} "
                  f"valid_loss {v_loss:.4f} valid_acc {v_acc:.3f} [{pc}]")
        epoch += 1

    v_loss, v_acc, per_class = evaluate(model, xva, yva)
    rm = model.b1.running_mean
    print(f"bn1 running_mean range [{mx.min(rm).item():.3f}, {mx.max(rm).item():.3f}]")
    print(f"final valid_acc {v_acc:.3f} vs baseline {base_acc:.3f} "
          f"valid_loss {v_loss:.4f} time {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
