"""Tide-mill pond level: port a PyTorch-layout GRU checkpoint to MLX, then fine-tune it.

Mill A's forecaster was trained in PyTorch; its state dict (nn.GRU + nn.Linear names and
layouts) is stood in for by a seeded numpy dict. We port it to mlx.nn.GRU (folding the
recurrent r/z biases into the input bias, keeping the n-gate recurrent bias apart), check
the port against a numpy forward written from the PyTorch GRU equations, and fine-tune it
on mill B. The run stops at step 200, writes a checkpoint, rebuilds everything from disk
and carries on to step 400.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SEQ, FEAT, HID = 24, 3, 32
NOISE = 0.1
mx.random.seed(0)
rng = np.random.default_rng(7)


# ----- a PyTorch-style checkpoint from mill A (names/layouts as torch would save them)
def fake_torch_state_dict(rng):
    k = 1.0 / np.sqrt(HID)
    u = lambda *s: rng.uniform(-k, k, size=s).astype(np.float32)
    sd = {
        "rnn.weight_ih_l0": u(3 * HID, FEAT) * 2.0,   # rows: r | z | n
        "rnn.weight_hh_l0": u(3 * HID, HID) * 2.0,
        "rnn.bias_ih_l0": u(3 * HID),
        "rnn.bias_hh_l0": u(3 * HID),
        "head.weight": u(1, HID) * 3.0,
        "head.bias": u(1),
    }
    return sd


def torch_gru_reference(sd, x):
    """numpy forward following the torch.nn.GRU equations (h0 = 0, batch_first)."""
    Wi, Wh = sd["rnn.weight_ih_l0"], sd["rnn.weight_hh_l0"]
    bi, bh = sd["rnn.bias_ih_l0"], sd["rnn.bias_hh_l0"]
    sig = lambda v: 1.0 / (1.0 + np.exp(-v))
    h = np.zeros((x.shape[0], HID), np.float32)
    for t in range(x.shape[1]):
        gi = x[:, t] @ Wi.T + bi
        gh = h @ Wh.T + bh
        r = sig(gi[:, :HID] + gh[:, :HID])
        z = sig(gi[:, HID:2 * HID] + gh[:, HID:2 * HID])
        n = np.tanh(gi[:, 2 * HID:] + r * gh[:, 2 * HID:])
        h = (1 - z) * n + z * h
    return (h @ sd["head.weight"].T + sd["head.bias"])[:, 0]


class PondForecaster(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(FEAT, HID)
        self.head = nn.Linear(HID, 1)

    def __call__(self, x):
        h = self.rnn(x)[:, -1, :]
        return self.head(h)[:, 0]


def port_state_dict(sd):
    bh = sd["rnn.bias_hh_l0"]
    folded = sd["rnn.bias_ih_l0"].copy()
    folded[: 2 * HID] += bh[: 2 * HID]          # r and z recurrent biases add straight in
    pairs = {
        "rnn.Wx": sd["rnn.weight_ih_l0"],
        "rnn.Wh": sd["rnn.weight_hh_l0"],
        "rnn.b": folded,
        "rnn.bhn": bh[2 * HID:],                # n-gate recurrent bias sits inside r * (.)
        "head.weight": sd["head.weight"],
        "head.bias": sd["head.bias"],
    }
    return [(k, mx.array(v)) for k, v in pairs.items()]


# ----- mill B data: sluice opening, tide height, wheel load over 24 quarter-hours
def make_inputs(n):
    t = np.arange(SEQ)[None, :]
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1))
    tide = np.sin(2 * np.pi * t / 50.0 + phase)
    sluice = (rng.uniform(size=(n, SEQ)) < 0.3).astype(np.float32) * rng.uniform(0.3, 1.0, (n, SEQ))
    load = np.cumsum(rng.normal(0, 0.2, size=(n, SEQ)), axis=1) / 3.0
    return np.stack([sluice, tide, load], axis=-1).astype(np.float32)


sd = fake_torch_state_dict(rng)
x_tr, x_va = make_inputs(4096), make_inputs(1024)


def mill_b_level(x):
    base = torch_gru_reference(sd, x)
    return (1.3 * base + 0.4 * x[:, -1, 1] - 0.25 * x[:, -6:, 0].sum(1)).astype(np.float32)


y_tr = mill_b_level(x_tr) + rng.normal(0, NOISE, len(x_tr)).astype(np.float32)
y_va = mill_b_level(x_va) + rng.normal(0, NOISE, len(x_va)).astype(np.float32)
Xtr, Ytr, Xva, Yva = map(mx.array, (x_tr, y_tr, x_va, y_va))

# ----- port and check
model = PondForecaster()
model.load_weights(port_state_dict(sd), strict=True)
mx.eval(model.parameters())
ref = torch_gru_reference(sd, x_va[:256])
got = np.array(model(Xva[:256]))
print(f"port check vs torch-equation reference: max |diff| = {np.abs(ref - got).max():.2e}")

persist = float(np.mean((y_va - y_va.mean()) ** 2))
print(f"baselines on mill B val: constant-mean MSE {persist:.4f}, "
      f"ported mill-A model MSE {float(nn.losses.mse_loss(model(Xva), Yva)):.4f}, "
      f"noise floor {NOISE ** 2:.4f}")

TOTAL, WARM, BATCH, STOP_AT = 400, 40, 64, 200


def make_schedule():
    return optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, WARM), optim.cosine_decay(3e-3, TOTAL - WARM, 1e-4)],
        [WARM],
    )


def loss_fn(m, xb, yb):
    return nn.losses.mse_loss(m(xb), yb)


def run(model, opt, start, stop):
    step_fn = nn.value_and_grad(model, loss_fn)
    data_rng = np.random.default_rng(1000 + start)
    for step in range(start, stop):
        idx = mx.array(data_rng.integers(0, len(x_tr), BATCH))
        lr_now = float(opt.learning_rate)
        loss, grads = step_fn(model, Xtr[idx], Ytr[idx])
        grads, gnorm = optim.clip_grad_norm(grads, 1.0)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 50 == 0 or step == stop - 1:
            va = float(nn.losses.mse_loss(model(Xva), Yva))
            print(f"step {step:3d}  lr {lr_now:.2e}  train {float(loss):.4f}  "
                  f"val {va:.4f}  gnorm {float(gnorm):.3f}")


t0 = time.time()
opt = optim.AdamW(learning_rate=make_schedule(), weight_decay=1e-4)
run(model, opt, 0, STOP_AT)

with tempfile.TemporaryDirectory() as ckdir:
    wpath = os.path.join(ckdir, "weights.safetensors")
    opath = os.path.join(ckdir, "optimizer.safetensors")
    model.save_weights(wpath)
    mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
    before = float(nn.losses.mse_loss(model(Xva), Yva))
    print(f"checkpoint written at step {STOP_AT} (val {before:.4f}); rebuilding from disk")
    del model, opt

    model = PondForecaster()
    model.load_weights(wpath, strict=True)
    opt = optim.AdamW(learning_rate=make_schedule(), weight_decay=1e-4)
    opt.state = tree_unflatten(list(mx.load(opath).items()))
    mx.eval(model.parameters(), opt.state)
    after = float(nn.losses.mse_loss(model(Xva), Yva))
    print(f"resumed: optimizer step {int(opt.state['step'])}, val {after:.4f}, "
          f"lr {float(opt.learning_rate):.2e}")

run(model, opt, STOP_AT, TOTAL)
final = float(nn.losses.mse_loss(model(Xva), Yva))
print(f"final val MSE {final:.4f} (noise floor {NOISE ** 2:.4f}, "
      f"constant-mean {persist:.4f}) in {time.time() - t0:.1f}s")
