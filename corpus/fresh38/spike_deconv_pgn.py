# Sparse non-negative deconvolution: recover a spike train from a blurred,
# noisy trace with a KNOWN blur kernel. Unknowns: spike amplitudes (softplus
# of a raw array) and a constant baseline offset. Objective = MSE + L1.
# The log is written as PGN-style tag pairs, one "game" per report.
import math
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(3)
N, K = 400, 31
t = mx.arange(K) - K // 2
kernel = mx.exp(-0.5 * (t / 3.0) ** 2) * (t >= -6)          # asymmetric bump
kernel = kernel / kernel.sum()

idx = mx.random.randint(0, N, (28,))
true_x = mx.zeros((N,)).at[idx].add(mx.random.uniform(1.0, 3.0, (28,)))
BASE, SIG = 0.4, 0.05


def blur(x):
    return mx.convolve(x, kernel, mode="same")


y = blur(true_x) + BASE + SIG * mx.random.normal((N,))
LAM = 2e-3


class Deconv(nn.Module):
    def __init__(self):
        super().__init__()
        self.raw = mx.full((N,), -3.0)
        self.offset = mx.array(0.0)

    def signal(self):
        return nn.softplus(self.raw)

    def __call__(self):
        return blur(self.signal()) + self.offset


def objective(model):
    x = model.signal()
    return ((model() - y) ** 2).mean() + LAM * x.mean()


def spike_f1(x, thr=0.5):
    pred = x > thr
    truth = true_x > 0
    # tolerate +-2 samples of misplacement
    near_truth = mx.convolve(truth.astype(mx.float32), mx.ones((5,)), mode="same") > 0
    near_pred = mx.convolve(pred.astype(mx.float32), mx.ones((5,)), mode="same") > 0
    prec = (pred & near_truth).sum().item() / max(pred.sum().item(), 1)
    rec = (truth & near_pred).sum().item() / max(truth.sum().item(), 1)
    return 0.0 if prec + rec == 0 else 2 * prec * rec / (prec + rec)


model = Deconv()
vg = nn.value_and_grad(model, objective)
_, g0 = vg(model)
gcheck = {k: float(mx.abs(v).max()) for k, v in tree_flatten(g0)}
print('[Event "grad check"]')
print(f'[Leaves "{" ".join(f"{k}={v:.2e}" for k, v in gcheck.items())}"]')
print(f'[NoiseFloorMSE "{SIG**2:.4f}"]')
print()

sched = optim.step_decay(0.05, 0.5, 1500)
opt = optim.Adam(learning_rate=sched)
t0 = time.time()
for step in range(1, 4501):
    loss, grads = vg(model)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step in (1, 10, 100) or step % 500 == 0:
        x = model.signal()
        mse = ((model() - y) ** 2).mean().item()
        print(f'[Event "deconv report"]')
        print(f'[Round "{step}"]')
        print(f'[Objective "{loss.item():.5f}"]')
        print(f'[FitMSE "{mse:.5f}"]')
        print(f'[SignalErr "{float(mx.sqrt(((x - true_x) ** 2).mean())):.4f}"]')
        print(f'[SpikeF1 "{spike_f1(x):.3f}"]')
        print(f'[Offset "{model.offset.item():.4f}"]')
        print(f'[LR "{opt.learning_rate.item():.4g}"]')
        print(f'[Clock "{time.time() - t0:.2f}s"]')
        print(f"{step}. Result *")
        print()
print('[Result "1-0"]')
