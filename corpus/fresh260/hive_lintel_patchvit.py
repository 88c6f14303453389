# Beehive entrance camera: tiny ViT on 16x16 RGB crops, predicts the class
# (empty / bee / wasp) and the number of insects (Gaussian NLL with learned variance).
import math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(3)
mx.random.seed(3)

def make_crops(n):
    x = rng.normal(0.35, 0.08, (n, 16, 16, 3)).astype(np.float32)
    cls = rng.integers(0, 3, n)
    count = np.where(cls == 0, 0, rng.integers(1, 4, n))
    for i in range(n):
        for _ in range(count[i]):
            r, c = rng.integers(2, 12, 2)
            if cls[i] == 1:
                x[i, r:r + 3, c:c + 4] = [0.8, 0.6, 0.1]
            else:
                x[i, r:r + 4, c:c + 2] = [0.9, 0.85, 0.05]
                x[i, r + 1, c:c + 2] = [0.05, 0.05, 0.05]
    return x, cls.astype(np.int32), count.astype(np.float32)

class TinyViT(nn.Module):
    def __init__(self, dim=48, depth=2, heads=4, patch=4):
        super().__init__()
        self.patch_embed = nn.Conv2d(3, dim, kernel_size=patch, stride=patch)
        self.pos = mx.random.normal((1, (16 // patch) ** 2, dim)) * 0.02
        self.blocks = [nn.TransformerEncoderLayer(dim, heads, mlp_dims=2 * dim, norm_first=True) for _ in range(depth)]
        self.norm = nn.LayerNorm(dim)
        self.cls_head = nn.Linear(dim, 3)
        self.count_head = nn.Linear(dim, 2)

    def __call__(self, x):
        h = self.patch_embed(x)                      # NHWC -> (B, 4, 4, dim)
        h = h.reshape(h.shape[0], -1, h.shape[-1]) + self.pos
        for blk in self.blocks:
            h = blk(h, None)
        h = self.norm(h).mean(axis=1)
        mu, log_var = mx.split(self.count_head(h), 2, axis=-1)
        return self.cls_head(h), mu[:, 0], mx.clip(log_var[:, 0], -6.0, 4.0)

def loss_fn(model, x, y, n):
    logits, mu, log_var = model(x)
    ce = nn.losses.cross_entropy(logits, y).mean()
    nll = 0.5 * (log_var + (n - mu) ** 2 * mx.exp(-log_var)).mean()
    return ce + nll, (ce, nll)

def evaluate(model, x, y, n):
    logits, mu, _ = model(x)
    acc = (mx.argmax(logits, axis=1) == y).astype(mx.float32).mean().item()
    mae = mx.abs(mx.round(mu) - n).mean().item()
    return acc, mae

xtr, ytr, ntr = map(mx.array, make_crops(1500))
xva, yva, nva = map(mx.array, make_crops(300))
base_acc = max(np.bincount(np.array(ytr)) / len(ytr))
base_mae = float(mx.abs(nva - mx.round(ntr.mean())).mean())
print(f"baselines: majority acc {base_acc:.3f}, mean-count MAE {base_mae:.3f}")

model = TinyViT()
mx.eval(model.parameters())
ema = tree_map(lambda p: p, model.parameters())
steps_per_epoch, epochs = 1500 // 50, 12
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, 30), optim.step_decay(2e-3, 0.3, 4 * steps_per_epoch)], [30])
opt = optim.AdamW(learning_rate=sched, weight_decay=0.02)
grad_fn = nn.value_and_grad(model, loss_fn)

# stage 1: patch embedding frozen for 3 epochs, then everything trains
opt.init(model.parameters())        # state for every leaf, so unfreezing later needs no rebuild
model.patch_embed.freeze()
t0 = time.time()
for epoch in range(1, epochs + 1):
    if epoch == 4:
        model.patch_embed.unfreeze()
        print("stage 2: patch embedding unfrozen")
    perm = mx.array(rng.permutation(1500))
    tot = [0.0, 0.0]
    for s in range(steps_per_epoch):
        idx = perm[s * 50:(s + 1) * 50]
        xb = xtr[idx]
        if rng.random() < 0.5:
            xb = xb[:, :, ::-1, :]                   # horizontal flip (labels unchanged)
        (loss, (ce, nll)), grads = grad_fn(model, xb, ytr[idx], ntr[idx])
        opt.update(model, grads)
        ema = tree_map(lambda e, p: 0.9 * e + 0.1 * p, ema, model.parameters())
        mx.eval(model.parameters(), opt.state, ema)
        tot[0] += ce.item(); tot[1] += nll.item()
    if epoch % 2 == 0 or epoch == 1:
        acc, mae = evaluate(model, xva, yva, nva)
        raw = model.parameters(); model.update(ema)
        eacc, emae = evaluate(model, xva, yva, nva); model.update(raw)
        print(f"epoch {epoch:2d} lr {opt.learning_rate.item():.2e} ce {tot[0]/steps_per_epoch:.4f} "
              f"count_nll {tot[1]/steps_per_epoch:+.4f} | val acc {acc:.3f} mae {mae:.3f} | ema acc {eacc:.3f} mae {emae:.3f}")
print(f"finished in {time.time()-t0:.1f}s")
