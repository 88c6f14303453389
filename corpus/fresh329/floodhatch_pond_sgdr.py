"""Tide mill: regress millpond sluice outflow (m3/s) from gauge readings.

Stage A trains only the heads on a frozen trunk, stage B unfreezes everything
with global-norm clipping and a warm-restart cosine schedule.  Halfway through
stage B the run checkpoints to disk, rebuilds model and optimizer from scratch
and resumes from the files.
"""
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

mx.random.seed(11)
D = 6
NOISE_SD = 0.15  # m3/s gauge noise in the targets


def make_tides(n, key):
    k1, k2 = mx.random.split(key)
    x = mx.random.uniform(-1, 1, (n, D), key=k1)
    head, gate, phase_s, phase_c, silt, leak = [x[:, i] for i in range(D)]
    # orifice-like law: flow grows with sqrt of head drop and gate opening
    drop = mx.maximum(1.2 + head + 0.4 * phase_s, 0.05)
    flow = 2.5 * (gate + 1.1) * mx.sqrt(drop) * (1.0 - 0.25 * (silt + 1)) + 0.3 * leak * phase_c
    y = flow + NOISE_SD * mx.random.normal((n,), key=k2)
    return x, y


xtr, ytr = make_tides(16000, mx.random.key(3))
xva, yva = make_tides(3000, mx.random.key(4))


class SluiceNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(D, 96), nn.GELU(), nn.Linear(96, 96), nn.GELU())
        self.head = nn.Sequential(nn.Linear(96, 32), nn.GELU(), nn.Linear(32, 1))

    def __call__(self, x):
        return self.head(self.trunk(x)).squeeze(-1)


def mse(model, x, y):
    return ((model(x) - y) ** 2).mean()


def group_norms(grads):
    out = {}
    for name, g in tree_flatten(grads):
        top = name.split(".")[0]
        out[top] = out.get(top, 0.0) + (g * g).sum()
    return {k: mx.sqrt(v) for k, v in out.items()}


def val_rmse(model):
    return mx.sqrt(mse(model, xva, yva)).item()


def batches(n, bs, key):
    perm = mx.random.permutation(n, key=key)
    for i in range(0, n - bs + 1, bs):
        yield perm[i : i + bs]


model = SluiceNet()
mx.eval(model.parameters())
print(f"val baseline RMSE (predict mean) {yva.std().item():.3f}  noise floor {NOISE_SD:.3f}")

# ---- stage A: heads only --------------------------------------------------
model.trunk.freeze()
opt_a = optim.Adam(learning_rate=3e-3)
lg_a = nn.value_and_grad(model, mse)
step = 0
for ep in range(2):
    for idx in batches(16000, 256, mx.random.key(100 + ep)):
        loss, grads = lg_a(model, xtr[idx], ytr[idx])
        opt_a.update(model, grads)
        mx.eval(model.parameters(), opt_a.state)
        step += 1
    norms = group_norms(grads)
    trunk_n = norms.get("trunk", mx.array(0.0)).item()
    print(
        f"[A] epoch {ep}  step {step}  train MSE {loss.item():.4f}  val RMSE {val_rmse(model):.3f}  "
        f"grad-norm trunk {trunk_n:.3f} head {norms['head'].item():.3f}"
    )
model.trunk.unfreeze()

# ---- stage B: everything, clipped, warm restarts --------------------------
CYCLE, CYCLES, MAX_NORM = 250, 4, 0.5


def sgdr(s):
    pos = s % CYCLE
    return 1e-4 + 0.5 * (2e-3 - 1e-4) * (1 + mx.cos(mx.pi * pos / CYCLE))


def make_opt():
    return optim.AdamW(learning_rate=sgdr, weight_decay=1e-4)


def run_stage_b(model, opt, start, stop, key_base):
    lg = nn.value_and_grad(model, mse)
    s = start
    ep = 0
    while s < stop:
        for idx in batches(16000, 128, mx.random.key(key_base + ep)):
            if s >= stop:
                break
            loss, grads = lg(model, xtr[idx], ytr[idx])
            grads, pre = optim.clip_grad_norm(grads, MAX_NORM)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, pre)
            s += 1
            if s % CYCLE in (0, 1) or s % 125 == 0:
                norms = group_norms(grads)
                print(
                    f"[B] step {s:4d}  lr {sgdr(opt.step - 1).item():.5f}  train MSE {loss.item():.4f}  "
                    f"val RMSE {val_rmse(model):.4f}  pre-clip norm {pre.item():7.3f}  "
                    f"trunk {norms['trunk'].item():.3f} head {norms['head'].item():.3f}"
                )
        ep += 1
    return s


opt_b = make_opt()
t0 = time.time()
half = CYCLE * CYCLES // 2
s = run_stage_b(model, opt_b, 0, half, 200)

with tempfile.TemporaryDirectory() as ckdir:
    wpath = os.path.join(ckdir, "weights.safetensors")
    opath = os.path.join(ckdir, "optimizer.safetensors")
    model.save_weights(wpath)
    mx.save_safetensors(opath, dict(tree_flatten(opt_b.state)))
    before = val_rmse(model)
    model = SluiceNet()
    model.load_weights(wpath)
    opt_b = make_opt()
    opt_b.state = tree_unflatten(list(mx.load(opath).items()))
    mx.eval(model.parameters(), opt_b.state)
    print(f"checkpoint reloaded at step {s}: val RMSE {before:.4f} -> {val_rmse(model):.4f}, "
          f"optimizer step {opt_b.step.item()}")

s = run_stage_b(model, opt_b, s, CYCLE * CYCLES, 400)
final = val_rmse(model)
print(f"final val RMSE {final:.4f} (noise floor {NOISE_SD:.3f}, baseline {yva.std().item():.3f})")
print(f"stage B took {time.time() - t0:.1f}s")
