"""Flue-pipe voicing: pitch offset (cents) from pipe measurements, repeated over seeds.
Training is silent; one AsciiDoc table closes the run."""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

NOISE_CENTS = 1.5
rng = np.random.default_rng(2024)


def make(n):
    # scale ratio, mouth height, cut-up, languid depth, wind pressure, toe bore, wall thickness
    x = rng.uniform(-1.0, 1.0, size=(n, 7))
    cents = (6.0 * x[:, 4] - 4.0 * x[:, 2] + 3.0 * np.tanh(2.0 * x[:, 1] * x[:, 5])
             + 2.5 * x[:, 0] ** 2 - 1.5 * x[:, 3] * x[:, 4] + 1.0 * np.sin(3.0 * x[:, 6]))
    y = cents + rng.normal(0.0, NOISE_CENTS, size=n)
    return x.astype(np.float32), y.astype(np.float32)


xtr, ytr = make(6000)
xte, yte = make(2000)
ym, ys = ytr.mean(), ytr.std()
Xtr, Xte = mx.array(xtr), mx.array(xte)
Ttr = mx.array((ytr - ym) / ys)


class Voicer(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


def rmse_cents(m):
    pred = np.array(m(Xte)) * ys + ym
    return float(np.sqrt(np.mean((pred - yte) ** 2)))


def run(seed, steps=1500, batch=96):
    mx.random.seed(seed)
    order = np.random.default_rng(seed)
    m = Voicer()
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 0.05, 150), optim.cosine_decay(0.05, steps - 150, 5e-4)], [150])
    opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)

    def loss_fn(model, x, t):
        return nn.losses.mse_loss(model(x), t)

    vg = nn.value_and_grad(m, loss_fn)
    init_rmse = rmse_cents(m)
    first_params = [v for _, v in tree_flatten(m.parameters())]
    t0 = time.time()
    last = []
    for s in range(steps):
        idx = mx.array(order.integers(0, len(xtr), size=batch))
        loss, g = vg(m, Xtr[idx], Ttr[idx])
        opt.update(m, g)
        mx.eval(loss, m.parameters(), opt.state)
        if s == 0:
            moved = sum(int(mx.any(a != b).item()) for a, b in
                        zip(first_params, [v for _, v in tree_flatten(m.parameters())]))
        if s >= steps - 100:
            last.append(loss.item())
    return dict(seed=seed, init=init_rmse, moved0=moved, train=float(np.sqrt(np.mean(last))) * ys,
                test=rmse_cents(m), secs=time.time() - t0)


print(f"flue voicing: train {len(xtr)} test {len(xte)} pipes, target sd {ys:.2f} cents, noise sd {NOISE_CENTS} cents")
print("training 8 seeds (silent) ...", flush=True)
rows = [run(s) for s in (11, 12, 13, 14, 15, 16, 17, 18)]

# reference rows
A = np.c_[xtr, np.ones(len(xtr))]
w = np.linalg.lstsq(A, ytr, rcond=None)[0]
lin = float(np.sqrt(np.mean((np.c_[xte, np.ones(len(xte))] @ w - yte) ** 2)))
const = float(np.sqrt(np.mean((ym - yte) ** 2)))

print()
print('[cols="<2,>1,>2,>2,>2,>1",options="header"]')
print("|===")
print("|run |leaves moved at step 1 |test RMSE at init (c) |train RMSE last 100 (c) |test RMSE (c) |secs")
for r in rows:
    print(f"|seed {r['seed']} |{r['moved0']}/6 |{r['init']:.2f} |{r['train']:.2f} |{r['test']:.2f} |{r['secs']:.1f}")
te = np.array([r["test"] for r in rows])
print(f"|mean +/- sd over seeds | | | |{te.mean():.2f} +/- {te.std(ddof=1):.2f} |")
print(f"|best / worst seed | | | |{te.min():.2f} / {te.max():.2f} |")
print(f"|reference: constant (train mean) | | | |{const:.2f} |")
print(f"|reference: least squares, linear | | | |{lin:.2f} |")
print(f"|reference: noise floor | | | |{NOISE_CENTS:.2f} |")
print("|===")
