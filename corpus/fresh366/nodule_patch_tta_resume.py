import os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
S = 8

def make_volumes(n, pos_frac):
    x = rng.normal(0.0, 1.0, size=(n, S, S, S, 1)).astype(np.float32)
    y = (rng.random(n) < pos_frac).astype(np.float32)
    zz, yy, xx = np.meshgrid(np.arange(S), np.arange(S), np.arange(S), indexing="ij")
    for i in np.where(y > 0)[0]:
        c = rng.integers(2, S - 2, size=3)
        r = rng.uniform(1.0, 1.6)
        blob = np.exp(-((zz - c[0]) ** 2 + (yy - c[1]) ** 2 + (xx - c[2]) ** 2) / (2 * r * r))
        x[i, ..., 0] += 1.3 * blob
    return mx.array(x), mx.array(y)

xtr, ytr = make_volumes(480, 0.12)
xva, yva = make_volumes(160, 0.12)
pos = float(ytr.sum().item())
pos_weight = (len(ytr) - pos) / max(pos, 1.0)
print(f"train patches {len(ytr)}  positives {int(pos)}  pos_weight {pos_weight:.2f}")

class PatchNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv3d(1, 6, 3, padding=1)
        self.c2 = nn.Conv3d(6, 8, 3, padding=1)
        self.head = nn.Linear(8, 1)
    def __call__(self, x):
        h = nn.relu(self.c1(x))
        h = nn.relu(self.c2(h))
        return self.head(h.max(axis=(1, 2, 3))).squeeze(-1)

def loss_fn(model, x, y):
    logits = model(x)
    w = 1.0 + (pos_weight - 1.0) * y
    return (w * nn.losses.binary_cross_entropy(logits, y, reduction="none")).mean()

def predict_tta(model, x):
    views = [x, x[:, ::-1], x[:, :, ::-1], x[:, :, :, ::-1]]
    return mx.mean(mx.stack([mx.sigmoid(model(v)) for v in views]), axis=0)

def balanced_acc(p, y):
    pred = (p > 0.5).astype(mx.float32)
    tpr = ((pred * y).sum() / y.sum()).item()
    tnr = (((1 - pred) * (1 - y)).sum() / (1 - y).sum()).item()
    return 0.5 * (tpr + tnr), tpr

TOTAL, WARM, BS = 160, 30, 16
sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, WARM),
                              optim.cosine_decay(3e-3, TOTAL - WARM)], [WARM])

def build():
    m = PatchNet(); mx.eval(m.parameters())
    return m, optim.AdamW(learning_rate=sched, weight_decay=1e-4)

def run(model, opt, start, stop):
    step_fn = nn.value_and_grad(model, loss_fn)
    for step in range(start, stop):
        idx = mx.array(rng.integers(0, len(ytr), size=BS))
        loss, g = step_fn(model, xtr[idx], ytr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
        if step % 40 == 0 or step == stop - 1:
            p_plain = mx.sigmoid(model(xva)); p_tta = predict_tta(model, xva)
            ba, _ = balanced_acc(p_plain, yva); ba_t, sens = balanced_acc(p_tta, yva)
            print(f"step {step:4d} lr {opt.learning_rate.item():.5f} wbce {loss.item():.4f} "
                  f"val_bal_acc {ba:.3f} tta_bal_acc {ba_t:.3f} sens {sens:.3f} majority_bal_acc 0.500")

t0 = time.time()
model, opt = build()
run(model, opt, 0, 80)
ck = tempfile.mkdtemp()
model.save_weights(os.path.join(ck, "w.safetensors"))
mx.save_safetensors(os.path.join(ck, "opt.safetensors"), dict(tree_flatten(opt.state)))
print("checkpoint written at step 80; reloading into a new process-like state")
from mlx.utils import tree_unflatten
model2, opt2 = build()
model2.load_weights(os.path.join(ck, "w.safetensors"))
opt2.state = tree_unflatten(list(mx.load(os.path.join(ck, "opt.safetensors")).items()))
run(model2, opt2, 80, TOTAL)
ba_t, sens = balanced_acc(predict_tta(model2, xva), yva)
print(f"final tta_bal_acc {ba_t:.3f} sensitivity {sens:.3f} (majority baseline 0.500)  {time.time()-t0:.1f}s")
