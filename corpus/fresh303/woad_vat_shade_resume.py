"""Indigo dye vat: predict shade depth (K/S at 660 nm) of a dyed skein.

Synthetic vat-log data. Float32 weights, a hand-rolled Adam whose first
moment is kept in bfloat16 to halve its memory, a checkpoint written
part-way and reloaded into fresh objects, and a last stage where the
forward pass runs in bfloat16.
"""
import math
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx.utils import tree_flatten, tree_map, tree_unflatten

FIBRES = ["cotton", "linen", "wool", "silk"]


def make_vat_log(n, rng):
    ph = rng.uniform(10.5, 12.5, n)
    orp = rng.uniform(-850, -650, n)          # reduction potential, mV
    temp = rng.uniform(18, 55, n)             # vat temperature, C
    indigo = rng.uniform(0.5, 8.0, n)         # g/L
    dips = rng.integers(1, 11, n).astype(np.float64)
    dip_s = rng.uniform(30, 600, n)
    oxid = rng.uniform(2, 30, n)              # minutes in air between dips
    fibre = rng.integers(0, 4, n)
    uptake = np.array([1.0, 0.8, 1.35, 1.15])[fibre]
    reduced = 1.0 / (1.0 + np.exp((orp + 760) / 25.0))   # share of leuco form
    ph_ok = np.exp(-((ph - 11.3) ** 2) / 0.6)
    per_dip = 0.9 * np.log1p(indigo) * reduced * ph_ok * uptake
    per_dip *= 1 - np.exp(-dip_s / 180.0)
    per_dip *= 1 + 0.01 * (temp - 25) * (fibre >= 2)
    ks = 14.0 * (1 - np.exp(-0.35 * per_dip * dips)) * (1 - np.exp(-oxid / 6.0))
    ks += rng.normal(0, 0.25, n)
    num = np.stack([ph, orp, temp, indigo, dips, dip_s, np.log(oxid)], 1)
    return num.astype(np.float32), fibre.astype(np.int32), ks.astype(np.float32)


class ShadeNet(nn.Module):
    def __init__(self, n_num, n_fibre, width=96):
        super().__init__()
        self.fibre = nn.Embedding(n_fibre, 8)
        self.l1 = nn.Linear(n_num + 8, width)
        self.l2 = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)
        self.compute_dtype = mx.float32

    def __call__(self, x, f):
        h = mx.concatenate([x, self.fibre(f)], axis=-1)
        if self.compute_dtype != mx.float32:
            h = h.astype(self.compute_dtype)
            layers = [tree_map(lambda p: p.astype(self.compute_dtype), l.parameters())
                      for l in (self.l1, self.l2, self.out)]
            h = nn.silu(h @ layers[0]["weight"].T + layers[0]["bias"])
            h = h + nn.silu(h @ layers[1]["weight"].T + layers[1]["bias"])
            y = h @ layers[2]["weight"].T + layers[2]["bias"]
            return y.astype(mx.float32).squeeze(-1)
        h = nn.silu(self.l1(h))
        h = h + nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


class HalfMomentAdam:
    """Adam with bias correction; m stored in bfloat16, v in float32."""

    def __init__(self, b1=0.9, b2=0.999, eps=1e-8):
        self.b1, self.b2, self.eps = b1, b2, eps
        self.step = 0
        self.m = None
        self.v = None

    def init(self, params):
        self.m = tree_map(lambda p: mx.zeros(p.shape, dtype=mx.bfloat16), params)
        self.v = tree_map(lambda p: mx.zeros(p.shape, dtype=mx.float32), params)

    def apply(self, params, grads, lr):
        self.step += 1
        b1, b2 = self.b1, self.b2
        m32 = tree_map(lambda m, g: b1 * m.astype(mx.float32) + (1 - b1) * g, self.m, grads)
        self.v = tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, self.v, grads)
        c1 = 1 - b1 ** self.step
        c2 = 1 - b2 ** self.step
        new = tree_map(lambda p, m, v: p - lr * (m / c1) / (mx.sqrt(v / c2) + self.eps),
                       params, m32, self.v)
        self.m = tree_map(lambda m: m.astype(mx.bfloat16), m32)
        return new

    def state_arrays(self):
        flat = {"m." + k: v for k, v in tree_flatten(self.m)}
        flat.update({"v." + k: v for k, v in tree_flatten(self.v)})
        flat["step"] = mx.array(self.step)
        return flat

    def load_arrays(self, flat):
        self.m = tree_unflatten([(k[2:], v) for k, v in flat.items() if k.startswith("m.")])
        self.v = tree_unflatten([(k[2:], v) for k, v in flat.items() if k.startswith("v.")])
        self.step = int(flat["step"].item())


def lr_at(step, peak=2e-3, warm=150):
    if step < warm:
        return peak * step / warm          # step 0 -> exactly 0
    if step < 1100:
        return peak
    if step < 1600:
        return peak * 0.3
    return peak * 0.1


def main():
    rng = np.random.default_rng(7)
    xn, fb, y = make_vat_log(14000, rng)
    ntr = 11000
    mu, sd = xn[:ntr].mean(0), xn[:ntr].std(0)
    xs = (xn - mu) / sd
    ymu, ysd = y[:ntr].mean(), y[:ntr].std()
    Xtr, Ftr, Ytr = mx.array(xs[:ntr]), mx.array(fb[:ntr]), mx.array((y[:ntr] - ymu) / ysd)
    Xte, Fte, Yte = mx.array(xs[ntr:]), mx.array(fb[ntr:]), y[ntr:]

    base_rmse = float(np.sqrt(np.mean((Yte - y[:ntr].mean()) ** 2)))
    print(f"vat log: {ntr} train skeins, {len(Yte)} test, K/S noise sd 0.25")
    print(f"baseline (predict train mean K/S): test RMSE {base_rmse:.3f}")

    mx.random.seed(3)
    model = ShadeNet(xs.shape[1], len(FIBRES))
    opt = HalfMomentAdam()
    opt.init(model.trainable_parameters())
    mx.eval(model.parameters(), opt.m, opt.v)

    def loss_fn(m, x, f, t):
        return mx.mean((m(x, f) - t) ** 2)

    grad_fn = nn.value_and_grad(model, loss_fn)

    def test_rmse(m):
        pred = np.array(m(Xte, Fte)) * ysd + ymu
        return float(np.sqrt(np.mean((pred - Yte) ** 2)))

    print(f"untrained test RMSE {test_rmse(model):.3f}")
    print(f"{'step':>5} {'stage':>6} {'lr':>9} {'train_mse':>10} {'test_rmse':>10} {'baseline':>9}")

    total, bs, ckpt_step = 2000, 128, 900
    tmp = tempfile.mkdtemp()
    perm = rng.permutation(ntr)
    cursor, window = 0, []
    t0 = time.time()
    step = 0
    while step < total:
        if cursor + bs > ntr:
            perm, cursor = rng.permutation(ntr), 0
        idx = mx.array(perm[cursor:cursor + bs])
        cursor += bs
        stage = "fp32" if step < 1600 else "bf16"
        model.compute_dtype = mx.float32 if stage == "fp32" else mx.bfloat16
        loss, grads = grad_fn(model, Xtr[idx], Ftr[idx], Ytr[idx])
        lr = lr_at(step)
        model.update(opt.apply(model.trainable_parameters(), grads, lr))
        mx.eval(model.parameters(), opt.m, opt.v, loss)
        window.append(loss.item())
        step += 1
        if step == 1 or step % 200 == 0:
            print(f"{step:5d} {stage:>6} {lr:9.2e} {np.mean(window):10.4f} "
                  f"{test_rmse(model):10.3f} {base_rmse:9.3f}")
            window = []
        if step == ckpt_step:
            before = test_rmse(model)
            model.save_weights(os.path.join(tmp, "shade.safetensors"))
            mx.save_safetensors(os.path.join(tmp, "adam.safetensors"), opt.state_arrays())
            np.save(os.path.join(tmp, "cursor.npy"), np.array([cursor]))
            # fresh objects, as a restarted job would build them
            model = ShadeNet(xs.shape[1], len(FIBRES))
            model.load_weights(os.path.join(tmp, "shade.safetensors"))
            opt = HalfMomentAdam()
            opt.load_arrays(mx.load(os.path.join(tmp, "adam.safetensors")))
            cursor = int(np.load(os.path.join(tmp, "cursor.npy"))[0])
            grad_fn = nn.value_and_grad(model, loss_fn)
            after = test_rmse(model)
            print(f"  checkpoint at step {step}: reloaded, adam step {opt.step}, "
                  f"m dtype {opt.m['l1']['weight'].dtype}, test RMSE {before:.4f} -> {after:.4f}")

    final = test_rmse(model)
    print(f"done in {time.time() - t0:.1f}s: test RMSE {final:.3f} K/S "
          f"({100 * (1 - final / base_rmse):.1f}% below baseline), "
          f"weights {model.l1.weight.dtype}")


if __name__ == "__main__":
    main()
