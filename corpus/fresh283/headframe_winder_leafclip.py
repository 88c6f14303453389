# Mine hoisting: drum-winder motor current (amps) at the headframe of a
# production shaft, predicted from six readings logged every 30 s.
# Rope-sway sensor noise is heavy tailed (Student-t, 2.5 dof), so single
# batches can throw very large gradients. Each parameter leaf is clipped to
# its own norm budget before AdamW; the learning rate warms up from 0.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map, tree_flatten

rng = np.random.default_rng(11)
N_TRAIN, N_VAL = 12000, 3000


def make_readings(n, noisy=True):
    load = rng.uniform(0.0, 1.0, n)          # skip payload as share of rated
    speed = rng.uniform(2.0, 5.0, n)         # hoisting speed m/s
    wind = rng.gamma(2.0, 3.0, n)            # rope sway amplitude mm
    temp = rng.normal(-6.0, 5.0, n)          # intake-air temperature C
    grade = rng.uniform(0.15, 0.45, n)       # depth of loading level (km)
    ice = (rng.uniform(size=n) < 0.12) * rng.uniform(0.2, 1.0, n)  # water in shaft guides
    amps = (80 + 260 * load * grade * speed / 3.0 + 6.0 * speed
            + 0.35 * wind ** 1.5 + 1.2 * np.maximum(-temp, 0) + 40 * ice * speed / 4)
    if noisy:
        amps = amps + 9.0 * rng.standard_t(2.5, n)
    x = np.stack([load, speed, wind, temp, grade, ice], 1).astype(np.float32)
    return x, amps.astype(np.float32)


x_tr, y_tr = make_readings(N_TRAIN)
x_va, y_va = make_readings(N_VAL, noisy=False)   # clean reference current
mu, sd = x_tr.mean(0), x_tr.std(0)
y_mu, y_sd = y_tr.mean(), y_tr.std()
x_tr, x_va = (x_tr - mu) / sd, (x_va - mu) / sd
x_tr, y_tr_n = mx.array(x_tr), mx.array((y_tr - y_mu) / y_sd)
x_va = mx.array(x_va)


class WinderModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h))
        return self.out(h).squeeze(-1)


mx.random.seed(3)
model = WinderModel()
mx.eval(model.parameters())

STEPS, WARM, BATCH, LEAF_BUDGET = 1500, 200, 128, 0.5
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, WARM), optim.cosine_decay(3e-3, STEPS - WARM, 1e-4)],
    [WARM])
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


loss_and_grad = nn.value_and_grad(model, loss_fn)


def leafwise_clip(grads, budget):
    def one(g):
        n = mx.sqrt(mx.sum(g * g))
        return g * mx.minimum(1.0, budget / (n + 1e-6))
    return tree_map(one, grads)


def global_norm(grads):
    return mx.sqrt(sum(mx.sum(g * g) for _, g in tree_flatten(grads)))


def val_metrics():
    pred = np.array(model(x_va)) * y_sd + y_mu
    err = pred - y_va
    return float(np.sqrt(np.mean(err ** 2))), float(np.median(np.abs(err)))


base_pred = np.full_like(y_va, y_mu)
base_rmse = float(np.sqrt(np.mean((base_pred - y_va) ** 2)))
print(f"train {N_TRAIN}  val {N_VAL}  amps mean {y_mu:.1f} sd {y_sd:.1f}")
print(f"baseline (predict mean current): val rmse {base_rmse:.2f} A")

t0 = time.time()
w_first = np.array(model.out.weight).copy()
clipped_leaves, seen_leaves, window = 0, 0, []
for step in range(1, STEPS + 1):
    idx = mx.array(rng.integers(0, N_TRAIN, BATCH))
    loss, grads = loss_and_grad(model, x_tr[idx], y_tr_n[idx])
    gnorm = global_norm(grads)
    leaf_norms = [mx.sqrt(mx.sum(g * g)) for _, g in tree_flatten(grads)]
    grads = leafwise_clip(grads, LEAF_BUDGET)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss, gnorm, *leaf_norms)
    seen_leaves += len(leaf_norms)
    clipped_leaves += sum(float(n) > LEAF_BUDGET for n in leaf_norms)
    window.append(float(loss))
    if step == 1:
        moved = float(np.abs(np.array(model.out.weight) - w_first).max())
        print(f"step 1  lr {float(sched(0)):.2e}  loss {float(loss):.4f}  "
              f"grad_norm {float(gnorm):.2f}  max |dW_out| {moved:.2e}")
    if step % 100 == 0:
        rmse, mae = val_metrics()
        print(f"step {step:5d}  lr {float(opt.learning_rate):.2e}  "
              f"train_mse {np.mean(window):.4f} (max {max(window):.2f})  "
              f"grad_norm {float(gnorm):7.2f}  leaves_clipped {clipped_leaves / seen_leaves:.0%}  "
              f"val_rmse {rmse:.2f} A  val_medAE {mae:.2f} A")
        window, clipped_leaves, seen_leaves = [], 0, 0

rmse, mae = val_metrics()
noise_floor = 9.0 * np.median(np.abs(rng.standard_t(2.5, 200000)))
print(f"final: val_rmse {rmse:.2f} A vs baseline {base_rmse:.2f} A; "
      f"median train-noise |e| ~{noise_floor:.2f} A; {time.time() - t0:.1f}s")
