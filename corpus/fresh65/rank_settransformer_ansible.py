"""Learn to output the rank (0..7) of every number in a set of 8 reals, order-free.

Set-transformer style: per-element embedding -> 2 self-attention blocks
(no positional encoding) -> per-element 8-way rank classifier.
Logged like an ansible-playbook run.
"""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

N = 8
rng = np.random.default_rng(7)


def make_batch(b):
    # mixture of scales so the net cannot just threshold the raw value
    scale = rng.choice([0.3, 1.0, 4.0], size=(b, 1))
    x = rng.normal(size=(b, N)) * scale + rng.normal(size=(b, 1))
    ranks = np.argsort(np.argsort(x, axis=1), axis=1)
    return mx.array(x[..., None].astype(np.float32)), mx.array(ranks.astype(np.int32))


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.att = nn.MultiHeadAttention(d, heads)
        self.ln2 = nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))

    def __call__(self, h):
        z = self.ln1(h)
        h = h + self.att(z, z, z)
        return h + self.ff(self.ln2(h))


class Ranker(nn.Module):
    def __init__(self, d=32, heads=4):
        super().__init__()
        self.embed = nn.Sequential(nn.Linear(1, d), nn.GELU(), nn.Linear(d, d))
        self.blocks = [Block(d, heads) for _ in range(2)]
        self.out = nn.Linear(d, N)

    def __call__(self, x):
        h = self.embed(x)
        for b in self.blocks:
            h = b(h)
        return self.out(h)


def loss_fn(model, x, r):
    return nn.losses.cross_entropy(model(x), r, reduction="mean")


model = Ranker()
mx.eval(model.parameters())
STEPS = 600
sched = optim.join_schedules(
    [optim.linear_schedule(1e-4, 3e-3, 60), optim.cosine_decay(3e-3, STEPS - 60, 1e-4)], [60])
opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)
vg = nn.value_and_grad(model, loss_fn)

xv, rv = make_batch(500)


def evaluate():
    logits = model(xv)
    ce = nn.losses.cross_entropy(logits, rv, reduction="mean").item()
    pred = mx.argmax(logits, axis=-1)
    elem = mx.mean(pred == rv).item()
    full = mx.mean(mx.all(pred == rv, axis=1)).item()
    within1 = mx.mean(mx.abs(pred - rv) <= 1).item()
    return ce, elem, full, within1


print("\nPLAY [train rank predictor] " + "*" * 50 + "\n")
print("TASK [Gathering Facts] " + "*" * 55)
n_params = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
x0, r0 = make_batch(128)
l0, g0 = vg(model, x0, r0)
zero = [k for k, v in tree_flatten(g0) if mx.all(v == 0).item()]
print(f"ok: [localhost] => {{\"params\": {n_params}, \"leaves\": {len(tree_flatten(g0))}, "
      f"\"zero_grad_leaves\": {zero}, \"chance_ce\": {np.log(N):.3f}, \"loss0\": {l0.item():.3f}}}\n")

t0 = time.time()
changed = 0
run = None
for step in range(1, STEPS + 1):
    x, r = make_batch(96)
    loss, grads = vg(model, x, r)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    run = loss.item() if run is None else 0.95 * run + 0.05 * loss.item()
    if step % 100 == 0:
        ce, elem, full, w1 = evaluate()
        changed += 1
        print(f"TASK [step {step:04d}] " + "*" * 58)
        print(f"changed: [localhost] => {{\"train_ce_ema\": {run:.4f}, \"val_ce\": {ce:.4f}, "
              f"\"rank_acc\": {elem:.3f}, \"perm_exact\": {full:.3f}, \"within_1\": {w1:.3f}, "
              f"\"lr\": {opt.learning_rate.item():.2e}, \"elapsed\": \"{time.time() - t0:.1f}s\"}}\n")

ce, elem, full, w1 = evaluate()
print("PLAY RECAP " + "*" * 67)
print(f"localhost                  : ok=1    changed={changed}    unreachable=0    "
      f"failed={0 if elem > 0.5 else 1}    skipped=0    rescued=0    ignored=0")
print(f"# final val_ce={ce:.4f} rank_acc={elem:.3f} perm_exact={full:.3f} within_1={w1:.3f}")
