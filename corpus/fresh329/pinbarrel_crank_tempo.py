"""Barrel-organ bellows pressure: next-sample prediction with a Clockwork RNN.

The pressure under the wind chest is the sum of three periodic parts (crank
stroke, pin pattern of one tune bar, full barrel turn) plus sensor noise.
A Clockwork RNN (Koutnik et al. 2014) splits its hidden state into modules
that tick at periods 1, 2, 4, 8, 16; a module only reads from modules that
are at least as slow as itself, so part of the recurrent matrix is masked.

Training runs in two sessions: the first one saves a checkpoint (weights and
optimizer state), the second one starts from fresh objects and resumes.
Loss is reported in dB (10*log10 MSE), so it is negative and goes down;
the first BURN_IN samples of each window are not scored.
"""

import math
import os
import tempfile
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

PERIODS = [1, 2, 4, 8, 16]
UNITS = 8
SEQ = 64
BATCH = 32
NOISE = 0.05
STEPS_PER_SESSION = 250
WARMUP = 40
PEAK_LR = 6e-3
BURN_IN = 8


def db(x):
    return 10.0 * math.log10(max(float(x), 1e-12))


def make_batch(rng, n):
    t = np.arange(SEQ + 1)[None, :]
    p1 = rng.uniform(0, 2 * np.pi, (n, 1))
    p2 = rng.uniform(0, 2 * np.pi, (n, 1))
    p3 = rng.uniform(0, 2 * np.pi, (n, 1))
    a1 = rng.uniform(0.4, 0.6, (n, 1))
    clean = (
        a1 * np.sin(2 * np.pi * t / 5.0 + p1)
        + 0.35 * np.sin(2 * np.pi * t / 13.0 + p2)
        + 0.3 * np.sin(2 * np.pi * t / 41.0 + p3)
    )
    noisy = clean + NOISE * rng.standard_normal(clean.shape)
    x = noisy[:, :-1, None].astype(np.float32)
    y = noisy[:, 1:, None].astype(np.float32)
    return mx.array(x), mx.array(y)


class ClockworkRNN(nn.Module):
    def __init__(self, in_dim, periods, units):
        super().__init__()
        self.periods = periods
        self.units = units
        hidden = len(periods) * units
        self.hidden = hidden
        self.inp = nn.Linear(in_dim, hidden)
        scale = 1.0 / math.sqrt(hidden)
        self.rec = mx.random.uniform(-scale, scale, (hidden, hidden))
        self.out = nn.Linear(hidden, 1)
        # row i (destination) may read column j (source) only if the source
        # module is at least as slow as the destination module
        mod = np.repeat(np.arange(len(periods)), units)
        mask = (mod[None, :] >= mod[:, None]).astype(np.float32)
        self._mask = mx.array(mask)
        ticks = np.array(
            [[t % p == 0 for p in periods] for t in range(SEQ)], dtype=np.float32
        )
        self._ticks = mx.array(np.repeat(ticks, units, axis=1))

    def __call__(self, x):
        n, steps, _ = x.shape
        h = mx.zeros((n, self.hidden))
        u = self.inp(x)
        w = self.rec * self._mask
        outs = []
        for t in range(steps):
            active = self._ticks[t]
            cand = mx.tanh(u[:, t, :] + h @ w.T)
            h = active * cand + (1.0 - active) * h
            outs.append(h)
        hs = mx.stack(outs, axis=1)
        return self.out(hs)


def loss_fn(model, x, y):
    # the first BURN_IN samples of a window have no history to predict from
    err = mx.square(model(x) - y)[:, BURN_IN:, :]
    return mx.mean(err)


def build():
    model = ClockworkRNN(1, PERIODS, UNITS)
    sched = optim.join_schedules(
        [
            optim.linear_schedule(0.0, PEAK_LR, WARMUP),
            optim.cosine_decay(PEAK_LR, 2 * STEPS_PER_SESSION - WARMUP, 2e-4),
        ],
        [WARMUP],
    )
    opt = optim.Adam(learning_rate=sched)
    return model, opt


def run_session(model, opt, rng, first_step, n_steps, val):
    step_fn = nn.value_and_grad(model, loss_fn)
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def train_step(x, y):
        loss, grads = step_fn(model, x, y)
        opt.update(model, grads)
        return loss

    xv, yv = val
    t0 = time.perf_counter()
    for i in range(n_steps):
        step = first_step + i
        x, y = make_batch(rng, BATCH)
        loss = train_step(x, y)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 50 == 0 or step == first_step + n_steps - 1:
            vl = loss_fn(model, xv, yv).item()
            print(
                f"step {step:4d}  lr {opt.learning_rate.item():.5f}  "
                f"train {db(loss.item()):7.2f} dB  val {db(vl):7.2f} dB  "
                f"({time.perf_counter() - t0:5.1f}s)"
            )
    return first_step + n_steps


def main():
    mx.random.seed(7)
    rng = np.random.default_rng(7)
    val = make_batch(np.random.default_rng(1234), 128)
    xv, yv = val

    persist = mx.mean(mx.square(xv - yv)[:, BURN_IN:, :]).item()
    floor = NOISE * NOISE
    print(f"noise floor          {db(floor):7.2f} dB  (sensor noise std {NOISE})")
    print(f"repeat-last baseline {db(persist):7.2f} dB")

    model, opt = build()
    mx.eval(model.parameters())
    n_rec = model.hidden * model.hidden
    n_masked = int(n_rec - model._mask.sum().item())
    n_params = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    print(f"params {n_params}; recurrent entries masked by the clock order: {n_masked}/{n_rec}")
    print(f"initial val {db(loss_fn(model, xv, yv).item()):7.2f} dB")

    print("-- session 1")
    step = run_session(model, opt, rng, 0, STEPS_PER_SESSION, val)

    ckpt = tempfile.mkdtemp()
    wpath = os.path.join(ckpt, "weights.safetensors")
    opath = os.path.join(ckpt, "optim.safetensors")
    model.save_weights(wpath)
    mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
    before = loss_fn(model, xv, yv).item()
    print(f"checkpoint written at step {step}, val {db(before):7.2f} dB")

    # fresh objects, as a second process would have
    mx.random.seed(99)
    model, opt = build()
    model.load_weights(wpath)
    opt.state = tree_unflatten(list(mx.load(opath).items()))
    after = loss_fn(model, xv, yv).item()
    print(
        f"resumed: val {db(after):7.2f} dB, optimizer step {int(opt.step.item())}, "
        f"lr {opt.learning_rate.item():.5f}"
    )

    print("-- session 2")
    step = run_session(model, opt, rng, step, STEPS_PER_SESSION, val)

    final = loss_fn(model, xv, yv).item()
    w = model.rec * model._mask
    print(
        f"final val {db(final):7.2f} dB | repeat-last {db(persist):7.2f} dB | "
        f"noise floor {db(floor):7.2f} dB | gap to floor {db(final) - db(floor):5.2f} dB"
    )
    print(f"recurrent matrix norm (active part) {mx.linalg.norm(w).item():.3f}")


if __name__ == "__main__":
    main()
