# Quarry weighbridge ledger: for each truck convoy (3-14 trucks, left-padded to 16),
# tag every truck whose load is above the convoy's own median. Tiny attention encoder.
import os, shutil, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

L, V = 16, 24
rng = np.random.default_rng(7)

def make(n):
    toks = np.zeros((n, L), np.int32); valid = np.zeros((n, L), np.float32); y = np.zeros((n, L), np.int32)
    for i in range(n):
        k = rng.integers(3, 15)
        loads = rng.integers(1, V, size=k)
        med = np.median(loads)
        toks[i, L - k:] = loads; valid[i, L - k:] = 1.0
        y[i, L - k:] = (loads > med).astype(np.int32)
    return mx.array(toks), mx.array(valid), mx.array(y)

class Encoder(nn.Module):
    def __init__(self, d=32):
        super().__init__()
        self.emb = nn.Embedding(V, d)
        self.att1 = nn.MultiHeadAttention(d, 4)
        self.att2 = nn.MultiHeadAttention(d, 4)
        self.n1, self.n2, self.n3 = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))
        self.head = nn.Linear(d, 2)
    def __call__(self, t, valid):
        bias = mx.where(valid[:, None, None, :] > 0, 0.0, -1e9)
        h = self.emb(t)
        a = self.n1(h); h = h + self.att1(a, a, a, mask=bias)
        a = self.n2(h); h = h + self.att2(a, a, a, mask=bias)
        h = h + self.ff(self.n3(h))
        return self.head(h)

def loss_fn(model, t, valid, y):
    ce = nn.losses.cross_entropy(model(t, valid), y, reduction="none")
    return (ce * valid).sum() / valid.sum()

def evaluate(model, t, valid, y):
    logits = model(t, valid)
    ce = ((nn.losses.cross_entropy(logits, y, reduction="none") * valid).sum() / valid.sum()).item()
    acc = (((logits.argmax(-1) == y) * valid).sum() / valid.sum()).item()
    return ce, acc

tr, va = make(4000), make(800)
p1 = (va[2] * va[1]).sum().item() / va[1].sum().item()
base_ce = -(p1 * np.log(p1) + (1 - p1) * np.log(1 - p1))
print(f"ledger rows={tr[0].shape[0]} val={va[0].shape[0]}  prior-only xent {base_ce:.4f} nats/truck, majority acc {max(p1,1-p1):.3f}")

TOTAL, WARM, BS = 360, 48, 32
sched = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, WARM), optim.cosine_decay(2e-3, TOTAL - WARM, 5e-5)], [WARM])
ckdir = tempfile.mkdtemp()

def build():
    mx.random.seed(3)
    m = Encoder(); mx.eval(m.parameters())
    o = optim.AdamW(learning_rate=sched, weight_decay=0.01)
    return m, o

def run(model, opt, start, stop, tag):
    step_fn = nn.value_and_grad(model, loss_fn)
    order = np.random.default_rng(start).permutation(tr[0].shape[0])
    pos = 0; run_loss = []
    for step in range(start, stop):
        if pos + BS > len(order):
            order = np.random.default_rng(step).permutation(tr[0].shape[0]); pos = 0
        idx = mx.array(order[pos:pos + BS]); pos += BS
        lr_now = opt.learning_rate.item()
        loss, g = step_fn(model, tr[0][idx], tr[1][idx], tr[2][idx])
        opt.update(model, g); mx.eval(model.parameters(), opt.state, loss)
        run_loss.append(loss.item())
        if (step + 1) % 45 == 0:
            vce, vacc = evaluate(model, *va)
            print(f"[{tag}] step {step+1:4d} lr {lr_now:.2e} train {np.mean(run_loss):.4f} | val xent {vce:.4f} "
                  f"gain_vs_prior {base_ce - vce:+.4f} nats acc {vacc:.3f}")
            run_loss = []

model, opt = build()
vce, vacc = evaluate(model, *va)
print(f"[init] val xent {vce:.4f} gain_vs_prior {base_ce - vce:+.4f} nats acc {vacc:.3f}")
run(model, opt, 0, 180, "shift-A")
mx.save_safetensors(os.path.join(ckdir, "w.safetensors"), dict(tree_flatten(model.parameters())))
mx.save_safetensors(os.path.join(ckdir, "o.safetensors"), dict(tree_flatten(opt.state)))
print(f"checkpoint written at step 180 -> {ckdir}; process state dropped")
del model, opt

model, opt = build()
model.update(tree_unflatten(list(mx.load(os.path.join(ckdir, "w.safetensors")).items())))
opt.init(model.trainable_parameters())
opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "o.safetensors")).items()))
print(f"resumed: optimizer step counter {opt.state['step'].item()}, lr {opt.learning_rate.item():.2e}")
run(model, opt, 180, TOTAL, "shift-B")
vce, vacc = evaluate(model, *va)
print(f"final val xent {vce:.4f} nats/truck (prior-only {base_ce:.4f}), acc {vacc:.3f} (majority {max(p1,1-p1):.3f})")
shutil.rmtree(ckdir)
