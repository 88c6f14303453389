# Full fine-tuning of a small conv classifier on synthetic 12x12 "glyphs";
# a checkpoint is written at the end of every epoch.
import os, time, tempfile
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(0)
rng = np.random.default_rng(42)
C = 5
protos = rng.normal(0, 1, (C, 12, 12)).astype(np.float32)
def sample(n):
    y = rng.integers(0, C, n)
    x = protos[y] + rng.normal(0, 1.2, (n, 12, 12)).astype(np.float32)
    return mx.array(x[..., None]), mx.array(y)
xtr, ytr = sample(6000)
xte, yte = sample(1000)

class Backbone(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1, stride=2)
    def __call__(self, x):
        return nn.relu(self.conv2(nn.relu(self.conv1(x))))

class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = Backbone()
        self.head = nn.Linear(32, C)
    def __call__(self, x):
        return self.head(self.backbone(x).mean(axis=(1, 2)))

model = Classifier()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)
def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")
vg = nn.value_and_grad(model, loss_fn)
ckpt_dir = tempfile.mkdtemp(prefix="ckpt_")

def _save_checkpoint(epoch):
    path = os.path.join(ckpt_dir, f"epoch_{epoch}.npz")
    mx.savez(path, **dict(model.parameters()))
    return path

print(f"{'epoch':>5} {'step':>6} {'train_ce':>9} {'test_acc':>9} {'sec':>6}")
step = 0
for epoch in range(1, 5):
    t0 = time.time()
    perm = mx.array(rng.permutation(6000))
    run = 0.0
    for i in range(0, 6000, 50):
        idx = perm[i:i + 50]
        loss, g = vg(model, xtr[idx], ytr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        run += loss.item()
        step += 1
        if step % 40 == 0:
            print(f"{'':>5} {step:>6} {run / 40:>9.4f}")
            run = 0.0
    acc = (model(xte).argmax(-1) == yte).astype(mx.float32).mean().item()
    print(f"{epoch:>5} {step:>6} {'':>9} {acc:>9.3f} {time.time() - t0:>6.1f}")
    p = _save_checkpoint(epoch)
    print(f"      saved {os.path.basename(p)}")
