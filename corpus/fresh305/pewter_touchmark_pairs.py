import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(11)
N_MARKS, F = 150, 20
# each pewterer's touchmark has a hidden 8-d design; a rubbing gives a 20-d noisy, wear-dependent reading
design = rng.normal(size=(N_MARKS, 8)).astype(np.float32)
Wmix = rng.normal(size=(8, F)).astype(np.float32) / np.sqrt(8)
def rubbing(ids, wear=None):
    wear = rng.uniform(0.2, 1.0, size=(len(ids), 1)).astype(np.float32) if wear is None else wear
    x = np.tanh(design[ids] @ Wmix) * wear + 0.35 * rng.normal(size=(len(ids), F)).astype(np.float32)
    return np.concatenate([x, wear], axis=1)          # the wear estimate is part of the reading

class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(F + 1, 64); self.l2 = nn.Linear(64, 32)
    def __call__(self, x):
        h = self.l2(nn.gelu(self.l1(x)))
        return h / mx.sqrt(mx.sum(h * h, axis=-1, keepdims=True) + 1e-6)

class PairJudge(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = Encoder(); self.head = nn.Linear(4 * 32, 1)
    def __call__(self, a, b):
        u, v = self.enc(a), self.enc(b)
        return self.head(mx.concatenate([u, v, mx.abs(u - v), u * v], axis=-1)).squeeze(-1)

def loss_fn(model, a, b, y):
    return nn.losses.binary_cross_entropy(model(a, b), y, with_logits=True, reduction="mean")

model = PairJudge()
opt = optim.AdaDelta(learning_rate=1.0, rho=0.95)
step_fn = nn.value_and_grad(model, loss_fn)

gallery_ids = np.arange(N_MARKS)
gallery = mx.array(rubbing(gallery_ids, wear=np.ones((N_MARKS, 1), np.float32)))
probe_ids = rng.integers(0, N_MARKS, 600)
probes = mx.array(rubbing(probe_ids))

def top1():
    s = np.array(model.enc(probes) @ model.enc(gallery).T)
    return float(np.mean(s.argmax(1) == probe_ids) * 100)

def pairs(hard, n=128):
    a_id = rng.integers(0, N_MARKS, n)
    y = (rng.random(n) < 0.25).astype(np.float32)
    if hard:   # negatives: the closest other mark in the current embedding space
        e = np.array(model.enc(gallery)); s = e @ e.T; np.fill_diagonal(s, -9)
        near = s.argmax(1)[a_id]
        rand = (a_id + rng.integers(1, N_MARKS, n)) % N_MARKS
        other = np.where(rng.random(n) < 0.5, near, rand)
    else:
        other = (a_id + rng.integers(1, N_MARKS, n)) % N_MARKS
    b_id = np.where(y == 1, a_id, other)
    return mx.array(rubbing(a_id)), mx.array(rubbing(b_id)), mx.array(y)

print(f"marks={N_MARKS} | probes={len(probe_ids)} | chance top-1 {100 / N_MARKS:.2f}% | positive share 25% "
      f"(bce of always-0.25 = {-(0.25*np.log(0.25)+0.75*np.log(0.75)):.4f})")
print(f"untrained | top1 {top1():.1f}%")
t0 = time.time(); window = []
for step in range(1, 1401):
    stage = "random" if step <= 800 else "nearest"
    a, b, y = pairs(hard=(stage == "nearest"))
    loss, g = step_fn(model, a, b, y)
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    window.append(loss.item())
    if step == 801:
        print("| stage switch | half the negatives now the nearest other mark |")
    if step % 200 == 0:
        print(f"| stage {stage:7s} | step {step:4d} | bce {np.mean(window):.4f} | top1 {top1():5.1f}% | {time.time()-t0:5.1f}s |")
        window = []
print(f"finished | top1 {top1():.1f}% vs chance {100 / N_MARKS:.2f}%")
