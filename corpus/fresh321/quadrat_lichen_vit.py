import os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
S, P, C, K = 12, 4, 3, 4          # image side, patch side, channels, growth forms

def quadrats(n):
    y = rng.integers(0, K, n)
    yy, xx = np.mgrid[0:S, 0:S] / (S - 1)
    imgs = np.empty((n, S, S, C), np.float32)
    for i, k in enumerate(y):
        cx, cy = rng.uniform(0.2, 0.8, 2)
        r = np.hypot(xx - cx, yy - cy)
        if k == 0:   base = np.exp(-(r / 0.25) ** 2)                 # crustose patch
        elif k == 1: base = 0.5 + 0.5 * np.sin(14 * r)               # foliose rings
        elif k == 2: base = (np.abs(xx - cx) < 0.12).astype(float)    # fruticose strand
        else:        base = 0.5 + 0.5 * np.sin(9 * (xx + yy))        # squamulose scales
        tint = rng.uniform(0.6, 1.0, C)
        imgs[i] = base[..., None] * tint + 0.35 * rng.standard_normal((S, S, C))
    return imgs, y.astype(np.int32)

Xtr, ytr = quadrats(3000); Xva, yva = quadrats(600)

class QuadratViT(nn.Module):
    def __init__(self, dim=48, depth=2, heads=4):
        super().__init__()
        self.patch = nn.Conv2d(C, dim, kernel_size=P, stride=P)
        n = (S // P) ** 2
        self.cls = mx.zeros((1, 1, dim))
        self.pos = 0.02 * mx.random.normal((1, n + 1, dim))
        self.encoder = nn.TransformerEncoder(depth, dim, heads, mlp_dims=2 * dim, norm_first=True)
        self.head = nn.Linear(dim, K)
    def __call__(self, x):
        t = self.patch(x)
        B = t.shape[0]
        t = t.reshape(B, -1, t.shape[-1])
        t = mx.concatenate([mx.broadcast_to(self.cls, (B, 1, t.shape[-1])), t], axis=1) + self.pos
        t = self.encoder(t, None)
        return self.head(t[:, 0])

def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")

def accuracy(m, X, Y):
    return float(mx.mean(mx.argmax(m(mx.array(X)), axis=1) == mx.array(Y)))

TOTAL, WARM, BS = 600, 80, 64
sched = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, WARM),
                              optim.cosine_decay(2e-3, TOTAL - WARM, 1e-5)], [WARM])

def run(model, opt, start, stop):
    vg = nn.value_and_grad(model, loss_fn)
    acc_loss, n = 0.0, 0
    for step in range(start, stop):
        idx = rng.integers(0, len(Xtr), BS)
        loss, g = vg(model, mx.array(Xtr[idx]), mx.array(ytr[idx]))
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
        acc_loss += loss.item(); n += 1
        if (step + 1) % 50 == 0:
            print(f"{step+1},{opt.learning_rate.item():.6f},{acc_loss/n:.4f},{accuracy(model, Xva, yva):.3f}")
            acc_loss, n = 0.0, 0

mx.random.seed(3)
base = np.bincount(ytr).max() / len(ytr)
print(f"# quadrats train={len(Xtr)} valid={len(Xva)}  majority-form baseline acc={base:.3f}")
print("step,lr,train_ce,valid_acc")
model = QuadratViT(); opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)
print(f"0,{sched(mx.array(0)).item():.6f},-,{accuracy(model, Xva, yva):.3f}")
t0 = time.time()
run(model, opt, 0, 300)
ck = tempfile.mkdtemp()
model.save_weights(os.path.join(ck, "vit.safetensors"))
mx.save_safetensors(os.path.join(ck, "opt.safetensors"), dict(tree_flatten(opt.state)))
print("# field season break: weights + optimizer state written, session restarted")
model = QuadratViT(); model.load_weights(os.path.join(ck, "vit.safetensors"))
opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)
opt.init(model.trainable_parameters())
from mlx.utils import tree_unflatten
opt.state = tree_unflatten(list(mx.load(os.path.join(ck, "opt.safetensors")).items()))
print(f"# resumed at step {opt.state['step'].item()} valid_acc={accuracy(model, Xva, yva):.3f}")
run(model, opt, 300, TOTAL)
print(f"# done in {time.time()-t0:.1f}s  final valid_acc={accuracy(model, Xva, yva):.3f} vs baseline {base:.3f}")
