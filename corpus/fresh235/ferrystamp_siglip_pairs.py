# Dual-encoder matching of ferry-ticket scans to timetable rows with a pairwise
# sigmoid loss (SigLIP-style learnable scale and bias), checkpoint at the halfway
# mark, then resume from disk into fresh objects and continue.
import os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(7)
N_ROUTES, D_TICKET, D_ROW, B = 120, 20, 12, 48
proto_t = rng.normal(size=(N_ROUTES, D_TICKET)).astype(np.float32)
proto_r = rng.normal(size=(N_ROUTES, D_ROW)).astype(np.float32)

def batch(idx, noise=0.35):
    t = proto_t[idx] + noise * rng.normal(size=(len(idx), D_TICKET)).astype(np.float32)
    r = proto_r[idx] + noise * rng.normal(size=(len(idx), D_ROW)).astype(np.float32)
    return mx.array(t), mx.array(r)

class Tower(nn.Module):
    def __init__(self, d_in):
        super().__init__()
        self.l1 = nn.Linear(d_in, 64)
        self.l2 = nn.Linear(64, 32)
    def __call__(self, x):
        h = self.l2(nn.silu(self.l1(x)))
        return h / mx.sqrt((h * h).sum(-1, keepdims=True) + 1e-8)

class Matcher(nn.Module):
    def __init__(self):
        super().__init__()
        self.ticket = Tower(D_TICKET)
        self.row = Tower(D_ROW)
        self.log_scale = mx.array([np.log(10.0)], dtype=mx.float32)
        self.bias = mx.array([-10.0], dtype=mx.float32)
    def logits(self, t, r):
        return (self.ticket(t) @ self.row(r).T) * mx.exp(self.log_scale) + self.bias

def loss_fn(model, t, r):
    z = model.logits(t, r)
    sign = 2 * mx.eye(z.shape[0]) - 1
    return -nn.log_sigmoid(sign * z).sum(-1).mean()

def recall_at_1(model, n=240):
    idx = rng.integers(0, N_ROUTES, size=n)
    idx = np.unique(idx)
    t, r = batch(idx)
    pred = mx.argmax(model.ticket(t) @ model.row(r).T, axis=1)
    return float((pred == mx.arange(len(idx))).mean()) * 100, 100.0 / len(idx)

def run(model, opt, start, stop, total):
    step_fn = nn.value_and_grad(model, loss_fn)
    for step in range(start, stop):
        # warmup from exactly 0 over 40 steps, then constant
        opt.learning_rate = mx.array(3e-3 * min(step / 40, 1.0))
        idx = rng.choice(N_ROUTES, size=B, replace=False)
        t, r = batch(idx)
        loss, grads = step_fn(model, t, r)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        if step % 50 == 0 or step == total - 1:
            rec, chance = recall_at_1(model)
            print(f"step {step:4d} lr {float(opt.learning_rate):.5f} sigloss {loss.item():7.3f} "
                  f"scale {float(mx.exp(model.log_scale).item()):6.2f} bias {model.bias.item():7.3f} "
                  f"recall@1 {rec:5.1f}% (chance {chance:.1f}%)")

TOTAL, HALF = 600, 300
t0 = time.time()
model = Matcher(); opt = optim.AdamW(learning_rate=0.0, weight_decay=1e-4)
print("phase A: fresh start")
run(model, opt, 0, HALF, TOTAL)
ckdir = tempfile.mkdtemp()
model.save_weights(os.path.join(ckdir, "matcher.safetensors"))
mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
print(f"checkpoint written at step {HALF}")

model2 = Matcher(); model2.load_weights(os.path.join(ckdir, "matcher.safetensors"))
opt2 = optim.AdamW(learning_rate=0.0, weight_decay=1e-4)
opt2.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
print("phase B: resumed from checkpoint")
run(model2, opt2, HALF, TOTAL, TOTAL)
rec, chance = recall_at_1(model2, n=2000)
print(f"final recall@1 {rec:.1f}% over {N_ROUTES} routes (chance {chance:.2f}%), {time.time()-t0:.1f}s")
