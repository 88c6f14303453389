# Tephra (volcanic ash) layers: predict median grain size (log2 mm) from 10 sieve/assay features.
# Two stages: stage A on clean cores, stage B adds noisy field cores (harder -> loss jumps).
# BatchNorm MLP, AdamW, JSON lines per epoch, eval with running stats, mean-predictor baseline.
import json
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(11)
D = 10
W_TRUE = mx.random.normal((D, 1)) * 0.7


def make_cores(n, noise, shift):
    x = mx.random.normal((n, D)) * 2.0 + shift
    y = mx.tanh(x @ W_TRUE * 0.3) * 3.0 + 0.2 * (x[:, :1] ** 2) * 0.1 + noise * mx.random.normal((n, 1))
    return x, y


clean_x, clean_y = make_cores(1536, 0.05, 1.5)
field_x, field_y = make_cores(1536, 0.35, -0.5)
val_x, val_y = make_cores(512, 0.0, 0.5)
mx.eval(clean_x, clean_y, field_x, field_y, val_x, val_y)


class SieveNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(D, 64)
        self.bn1 = nn.BatchNorm(64, momentum=0.1)
        self.l2 = nn.Linear(64, 64)
        self.bn2 = nn.BatchNorm(64, momentum=0.1)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        x = nn.silu(self.bn1(self.l1(x)))
        x = nn.silu(self.bn2(self.l2(x)))
        return self.out(x)


model = SieveNet()
opt = optim.AdamW(learning_rate=3e-3, weight_decay=1e-4)


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


step = nn.value_and_grad(model, loss_fn)

# gradient audit once: every trainable tensor must receive signal
model.train()
_, g0 = step(model, clean_x[:64], clean_y[:64])
from mlx.utils import tree_flatten
zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).sum()) == 0.0]
print(json.dumps({"event": "grad_audit", "tensors": len(tree_flatten(g0)), "zero_grad": zero}))

baseline = float(mx.mean((val_y - mx.mean(clean_y)) ** 2))
stages = [("A_clean", clean_x, clean_y, 14), ("B_field", mx.concatenate([clean_x, field_x]), mx.concatenate([clean_y, field_y]), 14)]
t0 = time.time()
for name, X, Y, epochs in stages:
    n = X.shape[0]
    for ep in range(1, epochs + 1):  # epoch counter restarts per stage
        model.train()
        perm = mx.random.permutation(n)
        tot, cnt = 0.0, 0
        for i in range(0, n, 64):
            idx = perm[i:i + 64]
            loss, grads = step(model, X[idx], Y[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), model.state, opt.state, loss)
            tot += loss.item() * idx.shape[0]
            cnt += idx.shape[0]
        model.eval()
        vmse = float(nn.losses.mse_loss(model(val_x), val_y))
        rm = float(mx.mean(model.bn1.running_mean))
        print(json.dumps({"stage": name, "epoch": ep, "train_mse": round(tot / cnt, 5),
                          "val_mse": round(vmse, 5), "baseline_mse": round(baseline, 5),
                          "bn1_running_mean": round(rm, 4)}))
print(json.dumps({"event": "done", "seconds": round(time.time() - t0, 2)}))
