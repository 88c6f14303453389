# Escalator comb-plate condition monitor.
# 3 classes: 0 = healthy, 1 = worn teeth, 2 = debris lodged
# features: 10 synthetic readings from the step-chain accelerometer & motor drive
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(1642)
FEATS = ["rms_mm_s", "kurtosis", "peak_hz", "crest", "motor_amp",
         "amp_ripple", "step_temp", "handrail_slip", "load_pax_min", "age_months"]

def make(n):
    x = rng.normal(size=(n, 10)).astype(np.float32)
    s_worn = 1.3 * x[:, 0] + 0.9 * np.tanh(2 * x[:, 9]) - 0.6 * x[:, 2] * x[:, 3] + 0.4 * x[:, 6]
    s_debr = 1.5 * x[:, 1] + 0.8 * np.abs(x[:, 4]) - 0.7 * x[:, 5] + 0.5 * x[:, 7] * x[:, 8] - 0.6
    s_ok = np.zeros(n) + 0.4
    logits = np.stack([s_ok, s_worn, s_debr], 1) + rng.gumbel(size=(n, 3)) * 0.6
    return x, logits.argmax(1).astype(np.int32)

xtr, ytr = make(3000)
xva, yva = make(800)
Xtr, Ytr, Xva, Yva = map(mx.array, (xtr, ytr, xva, yva))
majority_err = 100.0 * (1 - np.bincount(yva).max() / len(yva))


@mx.custom_function
def qgelu(x):
    return x * mx.sigmoid(1.702 * x)

@qgelu.vjp
def qgelu_vjp(x, cotangent, output):
    s = mx.sigmoid(1.702 * x)
    return cotangent * (s + 1.702 * x * s * (1 - s))


class CombNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(10, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 3)

    def __call__(self, x):
        h = qgelu(self.l1(x))
        h = qgelu(self.l2(h))
        return self.out(h)


# audit the hand-written VJP against autodiff of the same formula
z = mx.array(rng.normal(size=(257,)).astype(np.float32)) * 3
g_custom = mx.grad(lambda t: qgelu(t).sum())(z)
g_auto = mx.grad(lambda t: (t * mx.sigmoid(1.702 * t)).sum())(z)
print(f"vjp audit  max|custom-auto| = {mx.abs(g_custom - g_auto).max().item():.2e}")

mx.random.seed(7)
model = CombNet()
opt = optim.SGD(learning_rate=0.0, momentum=0.9, nesterov=True, weight_decay=1e-4)

def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")

lvg = nn.value_and_grad(model, loss_fn)
state = [model.state, opt.state]

def step(x, y):
    loss, grads = lvg(model, x, y)
    opt.update(model, grads)
    return loss

step = mx.compile(step, inputs=state, outputs=state)

# gradient coverage check before training
_, g0 = lvg(model, Xtr[:256], Ytr[:256])
from mlx.utils import tree_flatten
dead = [k for k, v in tree_flatten(g0) if mx.abs(v).max().item() == 0]
print("grad coverage:", "all params receive gradient" if not dead else f"ZERO grad: {dead}")

cycles = [6, 8, 10]            # SGDR cycle lengths (epochs); lr jumps back up at each restart
peak = [0.30, 0.20, 0.12]
BS = 100
print(f"{'cyc':>3} {'ep':>3} {'lr':>7} | {'train_ce':>8} {'val_ce':>7} | {'val_err%':>8} {'majority%':>9}")
print("-" * 60)
for c, (length, lr_max) in enumerate(zip(cycles, peak), start=1):
    for e in range(length):
        perm = mx.array(rng.permutation(len(xtr)))
        tot = 0.0
        nb = 0
        for i in range(0, len(xtr), BS):
            t = (e + i / len(xtr)) / length
            opt.learning_rate = lr_max * 0.5 * (1 + math.cos(math.pi * t))
            idx = perm[i:i + BS]
            loss = step(Xtr[idx], Ytr[idx])
            mx.eval(loss, model.parameters(), opt.state)
            tot += loss.item()
            nb += 1
        logits = model(Xva)
        vce = nn.losses.cross_entropy(logits, Yva, reduction="mean").item()
        verr = 100.0 * (mx.argmax(logits, 1) != Yva).astype(mx.float32).mean().item()
        lr_now = lr_max * 0.5 * (1 + math.cos(math.pi * e / length))
        print(f"{c:>3} {e:>3} {lr_now:7.4f} | {tot / nb:8.4f} {vce:7.4f} | {verr:8.2f} {majority_err:9.2f}")
    print("-" * 60 + f" restart after cycle {c}")

pred = np.array(mx.argmax(model(Xva), 1))
print("per-class recall (%):", " ".join(
    f"{name}={100 * np.mean(pred[yva == k] == k):.1f}" for k, name in enumerate(["healthy", "worn", "debris"])))
