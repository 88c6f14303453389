# Soft mixture-of-experts regression on a piecewise function of x in [-3, 3]
# (three regimes: sine, linear ramp, quadratic bowl). A softmax gate mixes four
# small experts; a small load-balancing term keeps all experts in use.
# Reports are written like `hexdump -C`: offset, the float32 bytes of the
# metric vector, and the decoded values in the right-hand gutter.
import struct
import sys
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(5)
N_EXP = 4


def target(x):
    return mx.where(x < -1.0, mx.sin(3.0 * x),
           mx.where(x < 1.0, 0.8 * x + 0.2, 0.6 * (x - 2.0) ** 2 - 0.4))


class Expert(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(1, 24)
        self.l2 = nn.Linear(24, 1)

    def __call__(self, x):
        return self.l2(mx.tanh(self.l1(x)))


class SoftMoE(nn.Module):
    def __init__(self):
        super().__init__()
        self.gate = nn.Sequential(nn.Linear(1, 16), nn.Tanh(), nn.Linear(16, N_EXP))
        self.experts = [Expert() for _ in range(N_EXP)]

    def __call__(self, x):
        w = mx.softmax(self.gate(x), axis=-1)                      # (B, E)
        outs = mx.concatenate([e(x) for e in self.experts], -1)    # (B, E)
        return mx.sum(w * outs, axis=-1, keepdims=True), w


def loss_fn(model, x, y):
    pred, w = model(x)
    mse = mx.mean((pred - y) ** 2)
    usage = mx.mean(w, axis=0)
    balance = N_EXP * mx.sum(usage * usage)        # 1.0 when perfectly balanced
    return mse + 0.01 * balance, (mse, usage)


def objective(model, x, y):
    return loss_fn(model, x, y)[0]


xva = mx.linspace(-3, 3, 600)[:, None]
yva = target(xva)
model = SoftMoE()
opt = optim.RMSprop(learning_rate=3e-3)
vg = nn.value_and_grad(model, objective)

_, g = vg(model, xva, yva)
leaves = tree_flatten(g)
print(f"# grad leaves={len(leaves)} zero={sum(1 for _, v in leaves if mx.abs(v).max().item() == 0)}", file=sys.stderr)


def hexline(offset, vals, note):
    raw = b"".join(struct.pack("<f", v) for v in vals)
    hx = " ".join(f"{b:02x}" for b in raw)
    print(f"{offset:08x}  {hx}  |{note}|")


t0 = time.time()
noise = 0.05
off = 0
for step in range(1, 3001):
    xb = mx.random.uniform(-3, 3, (128, 1))
    yb = target(xb) + noise * mx.random.normal(xb.shape)
    loss, g = vg(model, xb, yb)
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state)
    if step in (1, 25, 100) or step % 250 == 0:
        _, (vmse, usage) = loss_fn(model, xva, yva)
        u = [round(float(v), 3) for v in usage.tolist()]
        vals = [float(loss.item()), float(vmse.item())] + [float(v) for v in usage.tolist()]
        hexline(off, vals, f"step={step} batch_obj={vals[0]:.4f} val_mse={vals[1]:.5f} usage={u} t={time.time() - t0:.1f}s")
        off += len(vals) * 4
print(f"{off:08x}")
