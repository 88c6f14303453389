# Cider orchard: classify apple variety from 8 lab measurements.
# Season 1 knows 4 varieties; season 2 adds 2 more, so the classifier head is
# grafted from 4 to 6 outputs (old rows copied) and training continues,
# with a mid-season checkpoint and resume into a freshly built model.
import os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(7)
CENTERS = rng.normal(0, 1.6, size=(6, 8))
def sample(n, classes):
    y = rng.choice(classes, size=n)
    x = CENTERS[y] + rng.normal(0, 1.0, size=(n, 8))
    return mx.array(x.astype(np.float32)), mx.array(y)

class Grader(nn.Module):
    def __init__(self, n_out):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(8, 48), nn.GELU(), nn.Linear(48, 48), nn.GELU())
        self.head = nn.Linear(48, n_out)
    def __call__(self, x):
        return self.head(self.trunk(x))

def graft(old, n_out):
    new = Grader(n_out)
    new.trunk.update(old.trunk.parameters())
    k = old.head.weight.shape[0]
    w = mx.concatenate([old.head.weight, 0.01 * mx.random.normal((n_out - k, 48))], 0)
    b = mx.concatenate([old.head.bias, mx.full((n_out - k,), old.head.bias.mean().item())], 0)
    new.head.weight, new.head.bias = w, b
    return new

def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")

def metrics(m, x, y, n_cls):
    logits = m(x)
    loss = nn.losses.cross_entropy(logits, y, reduction="mean").item()
    acc = (mx.argmax(logits, -1) == y).mean().item()
    major = max(np.bincount(np.array(y), minlength=n_cls)) / y.shape[0]
    return loss, acc, major

def run(m, opt, classes, steps, start, tag, xv, yv):
    lg = nn.value_and_grad(m, loss_fn)
    for s in range(start, start + steps):
        x, y = sample(64, classes)
        loss, g = lg(m, x, y)
        opt.update(m, g)
        mx.eval(m.parameters(), opt.state)
        if (s + 1) % 50 == 0:
            vl, va, vb = metrics(m, xv, yv, 6)
            lr = opt.learning_rate.item()
            print(f"{tag} step {s+1:4d} lr {lr:.5f} train {loss.item():.3f} "
                  f"val {vl:.3f} acc {va:.3f} (majority {vb:.3f})")

t0 = time.time()
mx.random.seed(3)
xv4, yv4 = sample(600, [0, 1, 2, 3])
xv6, yv6 = sample(900, [0, 1, 2, 3, 4, 5])

m = Grader(4)
sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, 50),
                              optim.cosine_decay(3e-3, 250, 3e-4)], [50])
opt = optim.Adam(learning_rate=sched)
print("season 1: 4 varieties (lr warm-up from 0)")
run(m, opt, [0, 1, 2, 3], 300, 0, "s1", xv4, yv4)

m = graft(m, 6)
mx.eval(m.parameters())
vl, va, vb = metrics(m, xv6, yv6, 6)
print(f"grafted head 4->6: val {vl:.3f} acc {va:.3f} (majority {vb:.3f})")
sched2 = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, 40),
                               optim.cosine_decay(2e-3, 360, 2e-4)], [40])
opt = optim.Adam(learning_rate=sched2)
print("season 2: 6 varieties (second warm-up from 0)")
run(m, opt, [0, 1, 2, 3, 4, 5], 200, 0, "s2", xv6, yv6)

ck = tempfile.mkdtemp()
m.save_weights(os.path.join(ck, "grader.safetensors"))

mx.save_safetensors(os.path.join(ck, "opt.safetensors"), dict(tree_flatten(opt.state)))
print("checkpoint written; resuming in a fresh process-like setup")

m2 = Grader(6)
m2.load_weights(os.path.join(ck, "grader.safetensors"), strict=True)
opt2 = optim.Adam(learning_rate=sched2)
opt2.state = tree_unflatten(list(mx.load(os.path.join(ck, "opt.safetensors")).items()))
same = mx.allclose(m(xv6), m2(xv6)).item()
print(f"resume check: outputs identical = {same}, opt step = {opt2.state['step'].item()}")
run(m2, opt2, [0, 1, 2, 3, 4, 5], 200, 200, "s2", xv6, yv6)
vl, va, vb = metrics(m2, xv6, yv6, 6)
print(f"final: val {vl:.3f} acc {va:.3f} majority {vb:.3f} | {time.time()-t0:.1f}s")
