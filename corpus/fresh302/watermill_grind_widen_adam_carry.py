"""Water mill: predict flour output (kg/h) of a millstone from the day's settings.

The network starts narrow (3 hidden units) and is widened twice during training
(3 -> 12 at step 400, 12 -> 48 at step 800) with a function-preserving split.
Adam's moments and its step counter are carried over into the wider model:
copies of a unit inherit the unit's first/second moments, rescaled the same way
their gradients are rescaled by the split, so the run continues without a restart.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

WIDEN_AT = {400: 12, 800: 48}
TOTAL = 1800
BATCH = 96


def make_days(n, rng):
    head = rng.uniform(0.8, 3.2, n)            # m of water over the wheel
    sluice = rng.uniform(0.1, 1.0, n)          # sluice gate opening
    dress_age = rng.uniform(0, 60, n)          # days since the stones were dressed
    moisture = rng.uniform(11, 17, n)          # grain moisture %
    rye = rng.integers(0, 2, n)                # 0 wheat, 1 rye
    gap = rng.uniform(0.2, 1.2, n)             # stone gap setting, mm
    power = head * sluice * (1.0 - 0.25 * sluice ** 2)
    sharp = np.exp(-dress_age / 35.0)
    gap_eff = np.exp(-((gap - 0.65) / 0.35) ** 2)
    out = 120 * np.sqrt(power) * (0.55 + 0.45 * sharp) * (0.6 + 0.4 * gap_eff)
    out *= 1.0 - 0.03 * (moisture - 13) ** 2 / 4.0
    out *= np.where(rye == 1, 0.82, 1.0)
    y = out + rng.normal(0, 2.0, n)
    X = np.stack([head, sluice, dress_age, moisture, rye, gap], 1).astype(np.float32)
    return X, y.astype(np.float32)[:, None]


class Mill(nn.Module):
    def __init__(self, d_in, width):
        super().__init__()
        self.hidden = nn.Linear(d_in, width)
        self.head = nn.Linear(width, 1)

    def __call__(self, x):
        return self.head(nn.gelu(self.hidden(x)))


def widen(model, opt, new_width, rng):
    """Net2Net split of the hidden layer plus a matching Adam-state transplant."""
    old = model.hidden.weight.shape[0]
    pick = np.concatenate([np.arange(old), rng.integers(0, old, new_width - old)])
    counts = np.bincount(pick, minlength=old).astype(np.float32)
    c = mx.array(counts[pick])                 # copies of the unit each new unit came from
    idx = mx.array(pick)

    W1, b1 = model.hidden.weight, model.hidden.bias
    W2, b2 = model.head.weight, model.head.bias
    noise = mx.array(rng.normal(0, 1e-3, (new_width, W1.shape[1])).astype(np.float32))

    wide = Mill(W1.shape[1], new_width)
    wide.hidden.weight = W1[idx] + noise
    wide.hidden.bias = b1[idx]
    wide.head.weight = W2[:, idx] / c[None, :]
    wide.head.bias = b2

    st = opt.state
    h, o = st["hidden"], st["head"]
    # gradients of split incoming weights shrink by 1/c, outgoing ones stay the same
    new_state = {
        "step": st["step"],
        "learning_rate": st["learning_rate"],
        "hidden": {
            "weight": {"m": h["weight"]["m"][idx] / c[:, None], "v": h["weight"]["v"][idx] / (c[:, None] ** 2)},
            "bias": {"m": h["bias"]["m"][idx] / c, "v": h["bias"]["v"][idx] / c ** 2},
        },
        "head": {
            "weight": {"m": o["weight"]["m"][:, idx], "v": o["weight"]["v"][:, idx]},
            "bias": o["bias"],
        },
    }
    opt.state = new_state
    mx.eval(wide.parameters(), opt.state)
    return wide


def n_params(model):
    return sum(v.size for _, v in tree_flatten(model.parameters()))


def main():
    t0 = time.time()
    rng = np.random.default_rng(21)
    Xtr, ytr = make_days(6000, rng)
    Xva, yva = make_days(1500, rng)
    mx_, sx = Xtr.mean(0), Xtr.std(0)
    my, sy = float(ytr.mean()), float(ytr.std())
    Xt, yt = mx.array((Xtr - mx_) / sx), mx.array((ytr - my) / sy)
    Xv = mx.array((Xva - mx_) / sx)
    base_rmse = float(np.sqrt(np.mean((yva - ytr.mean()) ** 2)))

    mx.random.seed(4)
    model = Mill(6, 3)
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=3e-3)

    def loss_fn(m, x, y):
        return nn.losses.mse_loss(m(x), y)

    def val_rmse(m):
        pred = m(Xv) * sy + my
        return mx.sqrt(mx.mean((pred - mx.array(yva)) ** 2)).item()

    def probe_loss(m):
        return loss_fn(m, Xt[:2000], yt[:2000]).item()

    print(f"flour output: {len(Xtr)} train days, {len(Xva)} valid days, "
          f"predict-the-mean RMSE {base_rmse:.2f} kg/h, sensor noise 2.00 kg/h")
    print("step | width | params | train_mse | val_rmse_kg_h | adam_step")
    vg = nn.value_and_grad(model, loss_fn)
    for step in range(1, TOTAL + 1):
        if step - 1 in WIDEN_AT:
            before = probe_loss(model)
            model = widen(model, opt, WIDEN_AT[step - 1], rng)
            after = probe_loss(model)
            vg = nn.value_and_grad(model, loss_fn)
            print(f"---- widened to {WIDEN_AT[step - 1]} units at step {step - 1}: "
                  f"probe loss {before:.5f} -> {after:.5f}, Adam step kept at {int(opt.step.item())}")
        idx = mx.array(rng.integers(0, Xt.shape[0], BATCH))
        loss, grads = vg(model, Xt[idx], yt[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 100 == 0:
            print(f"{step:4d} | {model.hidden.weight.shape[0]:5d} | {n_params(model):6d} | "
                  f"{loss.item():9.5f} | {val_rmse(model):13.3f} | {int(opt.step.item()):9d}")
    print(f"done: val RMSE {val_rmse(model):.3f} kg/h vs mean baseline {base_rmse:.2f} kg/h "
          f"(noise floor 2.00), {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
