"""Clock-repair bench: a BatchNorm trunk learns 4 movement faults from 8 raw
bench readings, then a small regression head is fitted for beat error (ms)
on a few hundred timed movements with the trunk frozen AND held in eval mode,
so its weights and BatchNorm running statistics stay exactly as they were.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
mx.random.seed(11)
FAULTS = ["healthy", "dry pivots", "worn pallets", "weak mainspring"]


def movements(n):
    cls = rng.integers(0, 4, n)
    dry = (cls == 1) * rng.uniform(0.5, 1.0, n) + rng.uniform(0, 0.2, n)
    wear = (cls == 2) * rng.uniform(0.5, 1.0, n) + rng.uniform(0, 0.2, n)
    weak = (cls == 3) * rng.uniform(0.5, 1.0, n) + rng.uniform(0, 0.2, n)
    amp = 290 - 60 * dry - 25 * wear - 70 * weak + rng.normal(0, 8, n)      # degrees
    bph = rng.choice([14400, 18000, 21600], n) + rng.normal(0, 30, n)
    lift = 52 + 3 * wear + rng.normal(0, 1.0, n)                          # degrees
    oil = 6 + 60 * dry + rng.normal(0, 6, n)                              # months
    temp = rng.normal(21, 2.5, n)
    pallet = 2 + 40 * wear + rng.normal(0, 4, n)                          # microns
    torque = 120 - 55 * weak + rng.normal(0, 6, n)                        # gf.cm
    pos_var = 8 + 20 * dry + 10 * wear + rng.normal(0, 3, n)              # s/day
    X = np.stack([amp, bph, lift, oil, temp, pallet, torque, pos_var], 1).astype(np.float32)
    beat = 0.3 + 1.6 * wear + 0.7 * dry * wear + 0.4 * dry + rng.normal(0, 0.12, n)
    return X, cls.astype(np.int32), beat.astype(np.float32)


Xa, ca, _ = movements(8000)          # fault-logged movements (no timing)
Xb, _, bb = movements(700)           # timed movements
Xbv, _, bbv = movements(600)
Xa, Xb, Xbv = map(mx.array, (Xa, Xb, Xbv))   # raw units: the input BatchNorm scales them
ca, bb, bbv = mx.array(ca), mx.array(bb), mx.array(bbv)


class Trunk(nn.Module):
    def __init__(self):
        super().__init__()
        self.bn_in = nn.BatchNorm(8)
        self.l1 = nn.Linear(8, 96, bias=False)
        self.bn1 = nn.BatchNorm(96)
        self.l2 = nn.Linear(96, 64, bias=False)
        self.bn2 = nn.BatchNorm(64)

    def __call__(self, x):
        x = self.bn_in(x)
        x = nn.relu(self.bn1(self.l1(x)))
        return nn.relu(self.bn2(self.l2(x)))


class Bench(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = Trunk()
        self.fault_head = nn.Linear(64, 4)
        self.beat_head = nn.Sequential(nn.Linear(64, 32), nn.GELU(), nn.Linear(32, 1))

    def faults(self, x):
        return self.fault_head(self.trunk(x))

    def beat(self, x):
        return self.beat_head(self.trunk(x)).squeeze(-1)


def checksum(tree):
    return sum(float(mx.abs(v).sum().item()) for _, v in tree_flatten(tree))


t0 = time.time()
model = Bench()
mx.eval(model.parameters())

# ---- stage 1: fault classifier, whole network in train mode ----
def fault_loss(m, x, y):
    return nn.losses.cross_entropy(m.faults(x), y, reduction="mean")

opt = optim.SGD(learning_rate=optim.cosine_decay(0.05, 6 * 62, 1e-3), momentum=0.9, nesterov=True)
g1 = nn.value_and_grad(model, fault_loss)
model.train()
for ep in range(1, 7):
    perm = mx.array(rng.permutation(8000))
    tot = 0.0
    for i in range(62):
        idx = perm[i * 128:(i + 1) * 128]
        loss, grads = g1(model, Xa[idx], ca[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
    model.eval()
    acc = (mx.argmax(model.faults(Xa[:2000]), 1) == ca[:2000]).astype(mx.float32).mean().item()
    model.train()
    print(f"[faults] epoch {ep} loss {tot / 62:.4f} eval-mode acc {acc:.3f} (chance 0.25)")

# ---- stage 2: beat-error head only; trunk frozen and kept in eval mode ----
model.trunk.freeze()
model.fault_head.freeze()
model.trunk.eval()
trunk_w = checksum(model.trunk.parameters())
run_stats = checksum({k: v for k, v in tree_flatten(model.trunk.parameters()) if "running" in k})
print(f"trunk checksum {trunk_w:.4f}  running-stat checksum {run_stats:.4f}  "
      f"trainable now: {sum(v.size for _, v in tree_flatten(model.trainable_parameters()))}")

def beat_loss(m, x, y):
    return nn.losses.mse_loss(m.beat(x), y, reduction="mean")

g2 = nn.value_and_grad(model, beat_loss)
opt2 = optim.Adam(learning_rate=3e-3)
base = float(((bbv - bb.mean()) ** 2).mean().item())
floor = 0.12 ** 2
for step in range(1, 1201):
    idx = mx.array(rng.integers(0, 700, 64))
    loss, grads = g2(model, Xb[idx], bb[idx])
    opt2.update(model, grads)
    mx.eval(model.parameters(), opt2.state, loss)
    if step % 200 == 0:
        val = float(beat_loss(model, Xbv, bbv).item())
        print(f"[beat] step {step:4d} train mse {loss.item():.4f} val mse {val:.4f} "
              f"(predict-mean {base:.4f}, noise floor {floor:.4f})")

print(f"trunk checksum {checksum(model.trunk.parameters()):.4f} (was {trunk_w:.4f})  "
      f"running-stat checksum "
      f"{checksum({k: v for k, v in tree_flatten(model.trunk.parameters()) if 'running' in k}):.4f} "
      f"(was {run_stats:.4f})")
print(f"done in {time.time() - t0:.1f}s")
