# Harbour crane hoist-motor current traces (48 samples, 4 lift types):
# masked-autoencoder pretraining on patches (75% hidden, loss on hidden patches
# only), then a linear probe on the frozen encoder.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(21)
L, P = 48, 6
NP = L // P
tt = np.linspace(0, 1, L)

def traces(n):
    k = rng.integers(0, 4, n)
    load = rng.uniform(0.4, 1.4, n)
    ramp = np.array([0.10, 0.15, 0.25, 0.05])[k]
    sway = np.array([0.0, 0.15, 0.05, 0.35])[k]
    x = load[:, None] * np.clip(tt[None] / ramp[:, None], 0, 1)
    x += sway[:, None] * np.sin(2 * np.pi * (6 * tt[None] + rng.uniform(0, 1, (n, 1))))
    x += 0.4 * load[:, None] * np.exp(-((tt[None] - ramp[:, None]) ** 2) / 0.002)
    x += rng.normal(0, 0.35, (n, L))
    return x.astype(np.float32), k

xu, _ = traces(8000)
xtr, ytr = traces(1200)
xte, yte = traces(800)
m_, s_ = xu.mean(), xu.std()
norm = lambda x: ((x - m_) / s_).reshape(-1, NP, P).astype(np.float32)

class MAE(nn.Module):
    def __init__(self, d=32):
        super().__init__()
        self.embed = nn.Linear(P, d)
        self.pos = mx.random.normal((NP, d)) * 0.02
        self.mask_tok = mx.zeros((d,))
        self.enc = nn.TransformerEncoder(1, d, 4, mlp_dims=64, norm_first=True)
        self.dec = nn.Sequential(nn.Linear(d, 64), nn.GELU(), nn.Linear(64, P))
    def encode(self, x):
        return self.enc(self.embed(x) + self.pos, None)
    def __call__(self, x, keep):
        h = self.embed(x) + self.pos
        h = mx.where(keep[..., None], h, self.mask_tok + self.pos)
        return self.dec(self.enc(h, None))

def mae_loss(model, x, keep):
    err = mx.mean((model(x, keep) - x) ** 2, axis=-1)
    hidden = 1.0 - keep.astype(mx.float32)
    return mx.sum(err * hidden) / mx.sum(hidden)

def keep_mask(n):
    order = np.argsort(rng.random((n, NP)), 1)
    return mx.array(order < NP // 4)   # 2 of 8 patches visible

def probe(feats_tr, feats_te, epochs=100):
    lin = nn.Linear(feats_tr.shape[1], 4)
    o = optim.Adam(learning_rate=1e-2)
    f = nn.value_and_grad(lin, lambda m, a, b: nn.losses.cross_entropy(m(a), b, reduction="mean"))
    a, b = mx.array(feats_tr), mx.array(ytr)
    for _ in range(epochs):
        l, g = f(lin, a, b); o.update(lin, g); mx.eval(lin.parameters(), o.state)
    return float(mx.mean(mx.argmax(lin(mx.array(feats_te)), -1) == mx.array(yte)))

mx.random.seed(2)
model = MAE(); mx.eval(model.parameters())
raw_acc = probe(norm(xtr).reshape(len(xtr), -1), norm(xte).reshape(len(xte), -1))
pooled = lambda x: np.array(mx.mean(model.encode(mx.array(norm(x))), axis=1))
init_acc = probe(pooled(xtr), pooled(xte))
print(f"traces: {len(xu)} unlabelled, {len(xtr)}/{len(xte)} labelled, patches {NP}x{P}, visible 2/8")
print(f"probe on raw samples: {raw_acc:.3f} | probe on untrained encoder: {init_acc:.3f} | chance 0.250")

steps = 400; warm = 60
sched = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, warm), optim.cosine_decay(2e-3, steps - warm, 5e-5)], [warm])
opt = optim.AdamW(learning_rate=sched, weight_decay=0.05)
lg = nn.value_and_grad(model, mae_loss)
xv = mx.array(norm(xte)); kv = keep_mask(len(xte))
print("pretraining ... (quiet until done)")
t0 = time.time(); first = None
for step in range(1, steps + 1):
    xb = mx.array(norm(xu[rng.integers(0, len(xu), 64)]))
    loss, g = lg(model, xb, keep_mask(64))
    opt.update(model, g)
    mx.eval(loss, model.parameters(), opt.state)
    if first is None:
        first = (loss.item(), float(sched(0)))
val = mae_loss(model, xv, kv).item()
print(f"pretrain done in {time.time()-t0:.1f}s: step-1 loss {first[0]:.4f} at lr {first[1]:.1e}, "
      f"final batch loss {loss.item():.4f}, held-out hidden-patch mse {val:.4f} (per-sample variance 1.0)")

model.freeze()
acc = probe(pooled(xtr), pooled(xte))
print(f"linear probe on frozen pretrained encoder: {acc:.3f} (raw {raw_acc:.3f}, untrained {init_acc:.3f})")
