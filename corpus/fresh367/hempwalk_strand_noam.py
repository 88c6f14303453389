"""Rope-walk test bench: breaking load of laid hemp rope (kN).

Six bench readings per test piece -> breaking load.  Adam on an
inverse-square-root schedule, four micro-batches accumulated per update,
one global-norm clip per update.  Half-way through, the whole training
state is packed into a single in-memory blob (no files), the Python
objects are thrown away, and a fresh model + optimizer are rebuilt from
the blob before training carries on.
"""

import io
import json
import struct
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten, tree_map

SEED = 7
N_TRAIN, N_VALID = 8000, 1500
MICRO, ACCUM = 32, 4
PEAK_LR, WARM = 3e-3, 80
TOTAL_UPDATES = 1200
PACK_AT = 600
CLIP = 1.0
NOISE_KN = 0.8
MAGIC = b"RWLK"


def make_bench(n, rng):
    yarns = rng.integers(18, 60, n).astype(np.float64)          # yarns per strand
    twist = rng.uniform(20.0, 70.0, n)                           # turns per metre
    tar = rng.uniform(0.0, 0.18, n)                              # tar fraction
    fibre = rng.uniform(0.9, 2.4, n)                             # staple length m
    humid = rng.uniform(30.0, 95.0, n)                           # % RH at the walk
    strands = rng.choice([3.0, 4.0], n)
    twist_opt = 42.0 + 6.0 * (fibre - 1.6)
    load = (0.19 * yarns * strands * (0.85 + 0.25 * np.tanh(fibre - 1.2))
            * (1.0 - 0.00035 * (twist - twist_opt) ** 2)
            * (1.0 - 0.9 * tar) * (1.0 - 0.002 * np.maximum(humid - 65.0, 0.0)))
    load = load + rng.normal(0.0, NOISE_KN, n)
    x = np.stack([yarns, twist, tar, fibre, humid, strands], axis=1)
    return x.astype(np.float32), load.astype(np.float32)


class StrandNet(nn.Module):
    def __init__(self, d_in=6, width=64):
        super().__init__()
        self.l1 = nn.Linear(d_in, width)
        self.l2 = nn.Linear(width, width)
        self.head = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = h + nn.silu(self.l2(h))
        return self.head(h).squeeze(-1)


def inv_sqrt_schedule(step):
    # linear ramp from exactly 0, then peak * sqrt(WARM / step)
    s = step.astype(mx.float32)
    ramp = s / WARM
    decay = mx.rsqrt(mx.maximum(s, 1.0) / WARM)
    return PEAK_LR * mx.minimum(ramp, decay)


def mse(model, x, y):
    return mx.mean((model(x) - y) ** 2)


def build(seed):
    mx.random.seed(seed)
    model = StrandNet()
    opt = optim.Adam(learning_rate=inv_sqrt_schedule)
    mx.eval(model.parameters())
    return model, opt


def pack(model, opt, rng, update):
    arrays = {}
    for k, v in tree_flatten(model.parameters()):
        arrays["p/" + k] = np.array(v)
    for k, v in tree_flatten(opt.state):
        arrays["o/" + k] = np.array(v)
    body = io.BytesIO()
    np.savez(body, **arrays)
    rng_state = json.dumps(rng.bit_generator.state).encode()
    payload = body.getvalue()
    header = struct.pack("<4sIQQ", MAGIC, update, len(rng_state), len(payload))
    return header + rng_state + payload


def unpack(blob, model, opt):
    hsize = struct.calcsize("<4sIQQ")
    magic, update, n_rng, n_body = struct.unpack("<4sIQQ", blob[:hsize])
    assert magic == MAGIC
    rng_state = json.loads(blob[hsize:hsize + n_rng].decode())
    body = np.load(io.BytesIO(blob[hsize + n_rng:hsize + n_rng + n_body]))
    params = [(k[2:], mx.array(body[k])) for k in body.files if k.startswith("p/")]
    ostate = [(k[2:], mx.array(body[k])) for k in body.files if k.startswith("o/")]
    model.update(tree_unflatten(params))
    opt.state = tree_unflatten(ostate)
    rng = np.random.default_rng()
    rng.bit_generator.state = rng_state
    mx.eval(model.parameters(), opt.state)
    return update, rng


def main():
    t0 = time.time()
    data_rng = np.random.default_rng(SEED)
    xtr, ytr = make_bench(N_TRAIN, data_rng)
    xva, yva = make_bench(N_VALID, data_rng)
    mu, sd = xtr.mean(0), xtr.std(0)
    ymu, ysd = float(ytr.mean()), float(ytr.std())
    Xtr = mx.array((xtr - mu) / sd)
    Ytr = mx.array((ytr - ymu) / ysd)
    Xva = mx.array((xva - mu) / sd)
    Yva = mx.array(yva)

    base_rmse = float(np.sqrt(np.mean((yva - ymu) ** 2)))
    print(f"bench  train={N_TRAIN} valid={N_VALID}  load mean {ymu:.2f} kN  sd {ysd:.2f} kN")
    print(f"bench  reference: predict-the-mean rmse {base_rmse:.3f} kN, "
          f"bench noise {NOISE_KN:.2f} kN")

    def valid_rmse(model):
        pred = model(Xva) * ysd + ymu
        return float(mx.sqrt(mx.mean((pred - Yva) ** 2)).item())

    model, opt = build(SEED)
    lg = nn.value_and_grad(model, mse)
    batch_rng = np.random.default_rng(SEED + 1)

    # one look at the gradient tree before anything moves
    idx = mx.array(batch_rng.integers(0, N_TRAIN, MICRO))
    _, g0 = lg(model, Xtr[idx], Ytr[idx])
    leaves = tree_flatten(g0)
    dead = [k for k, v in leaves if float(mx.abs(v).max().item()) == 0.0]
    print(f"grads  {len(leaves)} leaves, all-zero: {dead}")

    def one_update(model, opt, lg, rng):
        acc = None
        loss_sum = 0.0
        for _ in range(ACCUM):
            idx = mx.array(rng.integers(0, N_TRAIN, MICRO))
            loss, g = lg(model, Xtr[idx], Ytr[idx])
            acc = g if acc is None else tree_map(lambda a, b: a + b, acc, g)
            loss_sum = loss_sum + loss
        acc = tree_map(lambda a: a / ACCUM, acc)
        acc, gnorm = optim.clip_grad_norm(acc, CLIP)
        opt.update(model, acc)
        mx.eval(model.parameters(), opt.state, loss_sum, gnorm)
        return loss_sum.item() / ACCUM, gnorm.item()

    def report(u, window, norms, tag):
        lr = float(inv_sqrt_schedule(mx.array(u)).item())
        clipped = sum(1 for n in norms if n > CLIP)
        print(f"[{tag}] u={u:5d}  lr_next={lr:.2e}  mse(z)={np.mean(window):.4f}  "
              f"|g|={np.mean(norms):.3f} clipped={clipped}/{len(norms)}  "
              f"valid_rmse={valid_rmse(model):.3f} kN")

    print(f"[walk1] untrained valid_rmse={valid_rmse(model):.3f} kN  "
          f"lr at u=0: {float(inv_sqrt_schedule(mx.array(0)).item()):.1e}")

    window, norms = [], []
    next_report = 1
    u = 0
    while u < PACK_AT:
        loss, gn = one_update(model, opt, lg, batch_rng)
        u += 1
        window.append(loss)
        norms.append(gn)
        if u == next_report:
            report(u, window, norms, "walk1")
            window, norms = [], []
            next_report *= 2
    before = valid_rmse(model)
    blob = pack(model, opt, batch_rng, u)
    print(f"[pack]  u={u}  blob {len(blob)/1024:.1f} KiB  valid_rmse={before:.3f} kN  "
          f"opt.step={int(opt.state['step'].item())}")
    del model, opt, lg, batch_rng

    model, opt = build(SEED + 100)
    print(f"[walk2] fresh objects valid_rmse={valid_rmse(model):.3f} kN (not yet restored)")
    u, batch_rng = unpack(blob, model, opt)
    lg = nn.value_and_grad(model, mse)
    after = valid_rmse(model)
    print(f"[walk2] restored u={u}  opt.step={int(opt.state['step'].item())}  "
          f"valid_rmse={after:.3f} kN  (was {before:.3f})")

    window, norms = [], []
    while u < TOTAL_UPDATES:
        loss, gn = one_update(model, opt, lg, batch_rng)
        u += 1
        window.append(loss)
        norms.append(gn)
        if u == next_report or u == TOTAL_UPDATES:
            report(u, window, norms, "walk2")
            window, norms = [], []
            if u == next_report:
                next_report *= 2

    final = valid_rmse(model)
    pred = np.array(model(Xva) * ysd + ymu)
    within = float(np.mean(np.abs(pred - yva) < 1.0)) * 100.0
    print(f"done   {TOTAL_UPDATES} updates x {ACCUM}x{MICRO} rows  valid_rmse={final:.3f} kN  "
          f"(mean-predictor {base_rmse:.3f}, noise {NOISE_KN:.2f})  within 1 kN: {within:.1f}%  "
          f"{time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
