import time, tempfile, os
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(7)
S = 16

def make_tiles(n):
    x = np.zeros((n, S, S, 1), np.float32)
    m = np.zeros((n, S, S, 1), np.float32)
    yy, xx = np.mgrid[0:S, 0:S]
    for i in range(n):
        glaze = 0.5 + 0.1 * np.sin(xx / rng.uniform(2, 5) + rng.uniform(0, 6))
        k = rng.integers(0, 3)
        mask = np.zeros((S, S), bool)
        for _ in range(k):
            a = rng.uniform(-1.5, 1.5); b = rng.uniform(2, 14)
            mask |= np.abs(yy - (a * (xx - 8) + b)) < 0.7
        img = glaze - 0.35 * mask + rng.normal(0, 0.08, (S, S))
        x[i, :, :, 0] = img; m[i, :, :, 0] = mask
    return mx.array(x), mx.array(m)

class TinyUNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc1 = nn.Conv2d(1, 12, 3, padding=1)
        self.down = nn.Conv2d(12, 24, 3, stride=2, padding=1)
        self.mid = nn.Conv2d(24, 24, 3, padding=1)
        self.up = nn.ConvTranspose2d(24, 12, 2, stride=2)
        self.dec = nn.Conv2d(24, 12, 3, padding=1)
        self.out = nn.Conv2d(12, 1, 1)
    def __call__(self, x):
        e = nn.relu(self.enc1(x))
        d = nn.relu(self.mid(nn.relu(self.down(e))))
        u = nn.relu(self.up(d))
        h = nn.relu(self.dec(mx.concatenate([u, e], axis=-1)))
        return self.out(h)

def loss_fn(model, x, m):
    logits = model(x)
    bce = nn.losses.binary_cross_entropy(logits, m, with_logits=True, reduction="mean")
    p = mx.sigmoid(logits)
    inter = (p * m).sum(axis=(1, 2, 3)); den = p.sum(axis=(1, 2, 3)) + m.sum(axis=(1, 2, 3))
    dice = 1 - (2 * inter + 1) / (den + 1)
    return bce + dice.mean()

def iou(model, x, m):
    pred = (model(x) > 0).astype(mx.float32)
    inter = (pred * m).sum(); union = ((pred + m) > 0).sum()
    return (inter / mx.maximum(union, 1)).item()

xtr, mtr = make_tiles(768); xva, mva = make_tiles(256)
# reference: thresholding the raw brightness at a fixed level
thr_pred = (xva < 0.3).astype(mx.float32)
ref_iou = ((thr_pred * mva).sum() / mx.maximum(((thr_pred + mva) > 0).sum(), 1)).item()
print(f"tiles train={xtr.shape[0]} val={xva.shape[0]} crack pixel share={mtr.mean().item():.3f}")
print(f"reference iou (fixed brightness threshold 0.3) = {ref_iou:.3f}; all-background iou = 0.000")

sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, 20), optim.cosine_decay(3e-3, 70, 1e-4)], [20])

def build():
    mx.random.seed(0)
    mdl = TinyUNet(); opt = optim.RMSprop(learning_rate=sched, alpha=0.95)
    return mdl, opt

model, opt = build()
ckdir = tempfile.mkdtemp()
B = 64; t0 = time.time(); step = 0
def run_epochs(model, opt, epochs, tag):
    global step
    vg = nn.value_and_grad(model, loss_fn)
    for ep in epochs:
        perm = mx.array(rng.permutation(xtr.shape[0]))
        tot = 0.0; nb = 0
        for i in range(0, xtr.shape[0], B):
            idx = perm[i:i + B]
            loss, g = vg(model, xtr[idx], mtr[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item(); nb += 1; step += 1
        vl = loss_fn(model, xva, mva).item()
        print(f"[{tag}] epoch {ep:2d} step {step:4d} lr {float(sched(opt.step.item())):.2e} "
              f"train bce+dice {tot/nb:.4f} val bce+dice {vl:.4f} val iou {iou(model, xva, mva):.3f} "
              f"(ref {ref_iou:.3f}) t={time.time()-t0:.1f}s")

print(f"untrained val bce+dice {loss_fn(model, xva, mva).item():.4f} val iou {iou(model, xva, mva):.3f}")
run_epochs(model, opt, range(1, 5), "run-a")
mx.save_safetensors(os.path.join(ckdir, "w.safetensors"), dict(tree_flatten(model.parameters())))
mx.save_safetensors(os.path.join(ckdir, "o.safetensors"), dict(tree_flatten(opt.state)))
saved_val = loss_fn(model, xva, mva).item()
print(f"checkpoint written after step {step}: val bce+dice {saved_val:.4f}")
del model, opt
model, opt = build()
model.update(tree_unflatten(list(mx.load(os.path.join(ckdir, "w.safetensors")).items())))
opt.init(model.trainable_parameters())
opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "o.safetensors")).items()))
print(f"resumed: opt step {opt.step.item()} val bce+dice {loss_fn(model, xva, mva).item():.4f} (saved {saved_val:.4f})")
run_epochs(model, opt, range(5, 8), "run-b")
print(f"done: final val iou {iou(model, xva, mva):.3f} vs reference {ref_iou:.3f}")
