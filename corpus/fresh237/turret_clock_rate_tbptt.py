"""Turret clock keeping: forecast the hourly rate error (s/day) of church tower clocks.

Each tower logs air temperature, a winding flag (weekly hand winding) and the rate
error measured in the previous hour. The pendulum rod lags the air temperature by
several hours and the drive weight's torque changes with hours since winding, so
the model has to remember things far beyond one 24 h chunk: the GRU state is
carried from chunk to chunk (truncated BPTT) and reset only at the start of a pass.
Halfway through, the run is checkpointed and resumed into fresh objects.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(7)
HOURS, CHUNK, H = 1920, 24, 32
N_TRAIN, N_VAL = 6, 2
NOISE = 0.25


def simulate_tower(seed_offset):
    r = np.random.default_rng(100 + seed_offset)
    t = np.arange(HOURS)
    weather = np.cumsum(r.normal(0, 0.35, HOURS))
    weather -= np.convolve(weather, np.ones(240) / 240, mode="same")
    air = 9 + 6 * np.sin(2 * np.pi * (t - 14) / 24) + weather + r.normal(0, 0.4, HOURS)
    rod = np.zeros(HOURS)
    rod[0] = air[0]
    for i in range(1, HOURS):
        rod[i] = rod[i - 1] + 0.08 * (air[i] - rod[i - 1])
    phase = r.integers(0, 168)
    since = (t + phase) % 168
    wind = (since == 0).astype(np.float32)
    rate = -0.35 * (rod - 10.0) + 2.2 * (since / 168.0) - 1.0
    obs = rate + r.normal(0, NOISE, HOURS)
    prev = np.concatenate([[obs[0]], obs[:-1]])
    x = np.stack([(air - 9) / 6, wind, prev / 3], axis=-1).astype(np.float32)
    return x, obs.astype(np.float32)


towers = [simulate_tower(i) for i in range(N_TRAIN + N_VAL)]
Xtr = mx.array(np.stack([towers[i][0] for i in range(N_TRAIN)]))
Ytr = mx.array(np.stack([towers[i][1] for i in range(N_TRAIN)]))
Xva = mx.array(np.stack([towers[i][0] for i in range(N_TRAIN, N_TRAIN + N_VAL)]))
Yva = mx.array(np.stack([towers[i][1] for i in range(N_TRAIN, N_TRAIN + N_VAL)]))


class RateForecaster(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(3, H)
        self.gru = nn.GRU(H, H)
        self.head = nn.Linear(H, 1)

    def __call__(self, x, h0):
        seq = self.gru(nn.silu(self.inp(x)), hidden=h0)
        return self.head(seq).squeeze(-1), seq[:, -1]


def chunk_loss(model, x, y, h0):
    pred, h_last = model(x, h0)
    return nn.losses.mse_loss(pred, y), h_last


EPOCHS = 8
STEPS_PER_EPOCH = HOURS // CHUNK
TOTAL = EPOCHS * STEPS_PER_EPOCH
WARM = 60
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, WARM), optim.cosine_decay(3e-3, TOTAL - WARM, 1e-4)], [WARM]
)


def make(seed):
    mx.random.seed(seed)
    m = RateForecaster()
    o = optim.Adam(learning_rate=schedule)
    return m, o


def evaluate(model, X, Y):
    h = mx.zeros((X.shape[0], H))
    sq, n = 0.0, 0
    for c in range(STEPS_PER_EPOCH):
        sl = slice(c * CHUNK, (c + 1) * CHUNK)
        pred, h = model(X[:, sl], h)
        if c >= 7:  # skip the first week while the state spins up
            sq += mx.sum((pred - Y[:, sl]) ** 2).item()
            n += pred.size
    return sq / n


def persistence_mse(X, Y):
    prev = X[:, 7 * CHUNK:, 2] * 3
    return mx.mean((prev - Y[:, 7 * CHUNK:]) ** 2).item()


def run_epochs(model, opt, first_epoch, last_epoch, step):
    loss_and_grad = nn.value_and_grad(model, chunk_loss)
    for ep in range(first_epoch, last_epoch):
        h = mx.zeros((N_TRAIN, H))
        tot, first_chunk = 0.0, None
        for c in range(STEPS_PER_EPOCH):
            sl = slice(c * CHUNK, (c + 1) * CHUNK)
            (loss, h), grads = loss_and_grad(model, Xtr[:, sl], Ytr[:, sl], h)
            grads, _ = optim.clip_grad_norm(grads, 1.0)
            opt.update(model, grads)
            h = mx.stop_gradient(h)
            mx.eval(model.parameters(), opt.state, loss, h)
            step += 1
            lv = loss.item()
            tot += lv
            if c == 0:
                first_chunk = lv
            if step in (1, 2, 30):
                print(f"  step {step:4d}  lr {opt.learning_rate.item():.2e}  chunk mse {lv:.4f}")
        va = evaluate(model, Xva, Yva)
        print(
            f"epoch {ep + 1}/{EPOCHS}  step {step:4d}  train mse {tot / STEPS_PER_EPOCH:.4f}"
            f"  (first chunk after reset {first_chunk:.4f})  val mse {va:.4f}"
        )
    return step


print(f"towers: {N_TRAIN} train, {N_VAL} held out, {HOURS} h each, TBPTT chunk {CHUNK} h")
print(f"noise floor (measurement var) {NOISE ** 2:.4f}   persistence baseline val mse {persistence_mse(Xva, Yva):.4f}")
t0 = time.time()
model, opt = make(0)
mx.eval(model.parameters())
n_params = sum(v.size for _, v in tree_flatten(model.parameters()))
print(f"params {n_params}  warmup {WARM} steps from lr 0.0, cosine to 1e-4, total {TOTAL} steps")
step = run_epochs(model, opt, 0, EPOCHS // 2, 0)

ckpt_dir = tempfile.mkdtemp(None, "turret_")
model.save_weights(os.path.join(ckpt_dir, "model.safetensors"))
mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"), dict(tree_flatten(opt.state)))
saved_val = evaluate(model, Xva, Yva)
print(f"checkpoint written at step {step} ({ckpt_dir}), val mse {saved_val:.4f}")

model, opt = make(123)  # fresh objects, different init, then restored
model.load_weights(os.path.join(ckpt_dir, "model.safetensors"))
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "opt.safetensors")).items()))
mx.eval(model.parameters(), opt.state)
print(f"resumed: optimizer step {opt.step.item()}  val mse {evaluate(model, Xva, Yva):.4f}")
step = run_epochs(model, opt, EPOCHS // 2, EPOCHS, step)

final = evaluate(model, Xva, Yva)
print(f"final val mse {final:.4f}  vs persistence {persistence_mse(Xva, Yva):.4f}  vs noise floor {NOISE ** 2:.4f}")
print(f"done in {time.time() - t0:.1f}s")
