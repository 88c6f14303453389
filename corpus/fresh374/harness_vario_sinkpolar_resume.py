"""Hang-gliding flight logs: predict the sink rate (m/s) of a glider on a
straight glide, with a spread, from six logger readings.

Mean + scale heads; the scale goes through a hand-written softplus whose
gradient is supplied with mx.custom_function.  Gaussian NLL on standardised
targets, so the loss drops below zero once the spread is learned.

Run layout: linear warmup that starts at lr = 0, a checkpoint written at
step 300, the process state thrown away, everything rebuilt from the file,
and training resumed to step 600.
"""

import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

mx.random.seed(11)

N_TRAIN, N_VAL, D = 6000, 1500, 6


def make_logs(n, key):
    k1, k2 = mx.random.split(key)
    x = mx.random.normal((n, D), key=k1)
    airspeed, wing_load, bank, turb, harness, ballast = [x[:, i] for i in range(D)]
    # made-up polar: sink grows quadratically away from min-sink speed
    mean = 1.1 + 0.35 * (airspeed - 0.3) ** 2 + 0.25 * wing_load + 0.2 * mx.abs(bank)
    mean = mean - 0.1 * harness + 0.05 * ballast * airspeed
    spread = 0.08 + 0.25 * mx.sigmoid(1.5 * turb)
    y = mean + spread * mx.random.normal((n,), key=k2)
    return x, y


x_tr, y_tr = make_logs(N_TRAIN, mx.random.key(1))
x_va, y_va = make_logs(N_VAL, mx.random.key(2))
y_mu, y_sd = y_tr.mean(), y_tr.std()
t_tr = (y_tr - y_mu) / y_sd
t_va = (y_va - y_mu) / y_sd


@mx.custom_function
def soft_scale(z):
    return mx.logaddexp(z, mx.zeros_like(z)) + 1e-3


@soft_scale.vjp
def soft_scale_vjp(primals, cotangent, output):
    return cotangent * mx.sigmoid(primals)


class SinkNet(nn.Module):
    def __init__(self, width=64):
        super().__init__()
        self.trunk = nn.Sequential(
            nn.Linear(D, width), nn.SiLU(), nn.Linear(width, width), nn.SiLU()
        )
        self.mu = nn.Linear(width, 1)
        self.raw_scale = nn.Linear(width, 1)

    def __call__(self, x):
        h = self.trunk(x)
        return self.mu(h).squeeze(-1), soft_scale(self.raw_scale(h).squeeze(-1))


def nll(model, x, t):
    mu, s = model(x)
    return mx.mean(mx.log(s) + 0.5 * ((t - mu) / s) ** 2)


TOTAL, WARM, SAVE_AT, BATCH = 600, 60, 300, 128
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, WARM), optim.cosine_decay(3e-3, TOTAL - WARM, 1e-4)],
    [WARM],
)


def build():
    m = SinkNet()
    o = optim.Adam(learning_rate=schedule)
    return m, o


def evaluate(model):
    mu, s = model(x_va)
    val_nll = mx.mean(mx.log(s) + 0.5 * ((t_va - mu) / s) ** 2)
    mae = mx.mean(mx.abs(mu * y_sd + y_mu - y_va))
    return val_nll.item(), mae.item()


def run(model, opt, start, stop):
    step_fn = nn.value_and_grad(model, nll)
    for step in range(start, stop):
        idx = mx.random.randint(0, N_TRAIN, (BATCH,), key=mx.random.key(1000 + step))
        loss, grads = step_fn(model, x_tr[idx], t_tr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        if step % 50 == 0 or step == stop - 1:
            lr = opt.learning_rate.item()
            v_nll, v_mae = evaluate(model)
            print(
                f"step {step:4d}  lr {lr:.2e}  train_nll {loss.item():+.4f}  "
                f"val_nll {v_nll:+.4f}  val_mae {v_mae:.3f} m/s"
            )


t0 = time.time()
baseline_mae = mx.mean(mx.abs(y_va - y_mu)).item()
print(f"baseline (predict mean sink) val_mae {baseline_mae:.3f} m/s")

model, opt = build()
run(model, opt, 0, SAVE_AT)

ckpt_dir = tempfile.mkdtemp("_sinkpolar")
w_path = os.path.join(ckpt_dir, "weights.safetensors")
o_path = os.path.join(ckpt_dir, "optim.safetensors")
model.save_weights(w_path)
mx.save_safetensors(o_path, dict(tree_flatten(opt.state)))
print(f"checkpoint written at step {SAVE_AT}: {sorted(os.listdir(ckpt_dir))}")
before = evaluate(model)
del model, opt

model, opt = build()
model.load_weights(w_path)
opt.state = tree_unflatten(list(mx.load(o_path).items()))
after = evaluate(model)
print(f"resumed: val_nll {before[0]:+.4f} -> {after[0]:+.4f}, step counter {opt.step.item()}")
run(model, opt, SAVE_AT, TOTAL)

v_nll, v_mae = evaluate(model)
mu, s = model(x_va)
cover = mx.mean((mx.abs(t_va - mu) < 1.645 * s).astype(mx.float32)).item()
print(
    f"final val_nll {v_nll:+.4f}  val_mae {v_mae:.3f} m/s (baseline {baseline_mae:.3f})  "
    f"90% band coverage {cover:.3f}  time {time.time() - t0:.1f}s"
)
