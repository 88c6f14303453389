# Glass-melt furnace: predict crown temperature (deg C) from 512 raw
# thermocouple / gas-flow readings. Mixed precision by hand: float32 master
# weights, a float16 working copy for forward/backward, float32 loss,
# global grad-norm clipping (norm reduced in fp32), AdamW on the masters.
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

mx.random.seed(7)
N_IN, HID, N = 512, 256, 4096
X = 100.0 + 160.0 * mx.random.uniform(shape=(N, N_IN))          # raw readings
w_true = mx.random.normal((N_IN,)) / N_IN ** 0.5
Y = 650.0 + 0.4 * ((X - 180.0) @ w_true)                         # deg C
X16 = X.astype(mx.float16)


class FurnaceNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(N_IN, HID)
        self.out = nn.Linear(HID, 1)

    def __call__(self, x):
        return self.out(nn.relu(self.inp(x))).squeeze(-1)


master = FurnaceNet()                     # fp32 master weights
master.out.bias = mx.array([640.0])       # start near the usual crown temperature
work = FurnaceNet()                       # fp16 working copy
opt = optim.AdamW(learning_rate=2e-5, weight_decay=0.0)
MAX_NORM = 0.001                          # Adam is scale-free, so clip hard


def half_loss(hparams, xb, yb):
    work.update(hparams)
    pred = work(xb).astype(mx.float32)
    return mx.mean((pred - yb) ** 2)


def clip_global_fp32(grads, max_norm):
    total = mx.sqrt(sum(mx.sum(g.astype(mx.float32) ** 2) for _, g in tree_flatten(grads)))
    scale = mx.minimum(max_norm / (total + 1e-6), 1.0)
    return tree_map(lambda g: (g.astype(mx.float32) * scale).astype(g.dtype), grads), total


vg = mx.value_and_grad(half_loss)
t0 = time.time()
w_start = mx.array(master.inp.weight)
for step in range(1, 201):
    idx = mx.random.randint(0, N, (128,))
    hparams = tree_map(lambda p: p.astype(mx.float16), master.parameters())
    loss, g16 = vg(hparams, X16[idx], Y[idx])
    g16, gnorm = clip_global_fp32(g16, MAX_NORM)
    opt.update(master, tree_map(lambda g: g.astype(mx.float32), g16))
    mx.eval(master.parameters(), opt.state, loss, gnorm)
    if step % 20 == 0 or step == 1:
        drift = mx.abs(master.inp.weight - w_start).max().item()
        print(f"step {step:4d} | mse {loss.item():10.2f} degC^2 | rmse {loss.item() ** 0.5:7.2f} | "
              f"gnorm(pre-clip) {gnorm.item():.3e} | max|dW_in| {drift:.2e}")
work.update(tree_map(lambda p: p.astype(mx.float16), master.parameters()))
full = mx.mean((work(X16).astype(mx.float32) - Y) ** 2).item()
print(f"done in {time.time() - t0:.1f}s, full-set rmse {full ** 0.5:.2f} degC (target std {mx.std(Y).item():.2f})")
