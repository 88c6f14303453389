# Gondola cable camera: classify motion direction of a seat in 8-frame grayscale clips
import os, tempfile
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
T, H, W, NCLS = 8, 16, 16, 5  # up, down, left, right, still

def make_clips(n):
    x = np.zeros((n, T, H, W, 1), np.float32)
    y = rng.choice(NCLS, size=n, p=[0.3, 0.15, 0.15, 0.15, 0.25])
    moves = {0: (-1, 0), 1: (1, 0), 2: (0, -1), 3: (0, 1), 4: (0, 0)}
    yy, xx = np.mgrid[0:H, 0:W]
    for i in range(n):
        r, c = rng.uniform(5, 11, size=2)
        dr, dc = moves[int(y[i])]
        for t in range(T):
            rr, cc = r + dr * 0.8 * (t - T / 2), c + dc * 0.8 * (t - T / 2)
            x[i, t, :, :, 0] = np.exp(-((yy - rr) ** 2 + (xx - cc) ** 2) / 4.0)
    x += rng.normal(0, 0.15, x.shape).astype(np.float32)
    return mx.array(x), mx.array(y)

class ClipNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv3d(1, 8, kernel_size=3, padding=1)
        self.c2 = nn.Conv3d(8, 16, kernel_size=3, stride=2, padding=1)
        self.head = nn.Linear(16 * 4 * 4 * 4, NCLS)
    def __call__(self, x):
        h = nn.relu(self.c1(x))
        h = nn.relu(self.c2(h))
        h = h.reshape(h.shape[0], 4, 4, 2, 4, 2, 16).mean(axis=(3, 5))
        return self.head(h.reshape(h.shape[0], -1))

def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")

def accuracy(model, x, y):
    return (mx.argmax(model(x), axis=1) == y).astype(mx.float32).mean().item()

xtr, ytr = make_clips(384)
xva, yva = make_clips(160)
counts = np.bincount(np.array(ytr), minlength=NCLS)
majority = int(counts.argmax())
base_acc = (np.array(yva) == majority).mean()
print(f"train clips {xtr.shape}  val clips {xva.shape}  majority-class val acc {base_acc:.3f}")

EPOCHS, BS = 8, 32
steps_per_epoch = len(ytr) // BS
warm = optim.linear_schedule(0.0, 3e-3, steps_per_epoch)  # starts at exactly 0
sched = optim.join_schedules([warm, optim.cosine_decay(3e-3, (EPOCHS - 1) * steps_per_epoch, 1e-4)], [steps_per_epoch])

def build():
    mx.random.seed(0)
    m = ClipNet(); mx.eval(m.parameters())
    return m, optim.Adam(learning_rate=sched)

ckpt_dir = tempfile.mkdtemp(prefix="lift_")
model, opt = build()
step_fn = nn.value_and_grad(model, loss_fn)
start_epoch = 0
for epoch in range(EPOCHS):
    if epoch == 4:
        # simulate preemption: reload everything from the epoch-3 checkpoint
        model, opt = build()
        model.load_weights(os.path.join(ckpt_dir, "model.safetensors"))
        st = mx.load(os.path.join(ckpt_dir, "opt.safetensors"))
        opt.init(model.trainable_parameters())
        from mlx.utils import tree_unflatten
        opt.state = tree_unflatten(list(st.items()))
        step_fn = nn.value_and_grad(model, loss_fn)
        print(f"resumed from checkpoint at optimizer step {opt.step.item()}  lr {opt.learning_rate.item():.5f}  val acc {accuracy(model, xva, yva):.3f}")
    perm = mx.array(rng.permutation(len(ytr)))
    tot = 0.0
    for b in range(steps_per_epoch):
        idx = perm[b * BS:(b + 1) * BS]
        loss, g = step_fn(model, xtr[idx], ytr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
        if epoch == 0 and b < 3:
            print(f"  epoch 0 step {b} lr {opt.learning_rate.item():.6f} loss {loss.item():.4f}")
    print(f"epoch {epoch} lr {opt.learning_rate.item():.5f} train loss {tot / steps_per_epoch:.4f} val acc {accuracy(model, xva, yva):.3f} (majority {base_acc:.3f})")
    if epoch == 3:
        model.save_weights(os.path.join(ckpt_dir, "model.safetensors"))
        mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"), dict(tree_flatten(opt.state)))
        print(f"checkpoint written after epoch {epoch}")
print(f"final val acc {accuracy(model, xva, yva):.3f} vs majority baseline {base_acc:.3f}")
