"""Samphire (glasswort) harvest biomass on two estuary flats.

A shared base model is fitted on survey plots pooled from many flats, then
fine-tuned separately for the north flat and the south flat.  The two
fine-tunes are combined tensor by tensor with spherical interpolation, the
blend is swept from north (t=0) to south (t=1), and the midpoint blend gets a
short joint healing run that is checkpointed and resumed halfway.
"""
import math
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map, tree_unflatten

mx.random.seed(7)
N_FEAT = 7  # six plot readings + the flat's tidal-range index
NOISE = 0.15  # g/m^2 (scaled units) gauge noise of the clip-and-weigh plots


def flat_law(x, tilt):
    # salinity, inundation minutes, sediment grain, elevation, nitrogen, grazing
    s, inund, grain, elev, nit, graze = [x[:, i] for i in range(6)]
    y = (
        1.2 * mx.tanh(1.5 * elev)
        - 0.6 * inund * inund
        + 0.8 * nit
        - 0.5 * mx.abs(s - 0.3 * tilt)
        + 0.4 * tilt * grain
        - 0.3 * graze * (1.0 + 0.5 * tilt)
    )
    return y


def make_flat(n, tilt, key):
    k1, k2 = mx.random.split(key)
    x = mx.random.normal((n, 6), key=k1)
    x = mx.concatenate([x, mx.full((n, 1), tilt)], axis=1)
    y = flat_law(x, tilt) + NOISE * mx.random.normal((n,), key=k2)
    return x, y[:, None]


class Biomass(nn.Module):
    def __init__(self, hidden=64):
        super().__init__()
        self.l1 = nn.Linear(N_FEAT, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h)


def mse(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def fit(model, x, y, steps, peak_lr, warm, tag, log_every, bs=128, start=0, opt=None):
    if opt is None:
        sched = optim.join_schedules(
            [optim.linear_schedule(0.0, peak_lr, warm), optim.cosine_decay(peak_lr, steps - warm, 1e-5)],
            [warm],
        )
        opt = optim.Adam(learning_rate=sched)
    step_fn = nn.value_and_grad(model, mse)
    n = x.shape[0]
    for step in range(start, steps):
        idx = mx.random.randint(0, n, (bs,))
        loss, grads = step_fn(model, x[idx], y[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if log_every and (step % log_every == 0 or step == steps - 1):
            print(f"[{tag}] step {step:4d}  lr {float(opt.learning_rate):.2e}  train_mse {loss.item():.4f}")
    return opt


def evaluate(model, x, y):
    return mse(model, x, y).item()


def clone(model):
    m = Biomass()
    m.update(tree_map(lambda p: mx.array(p), model.parameters()))
    mx.eval(m.parameters())
    return m


def slerp_tensor(a, b, t, eps=1e-6):
    af, bf = a.reshape(-1), b.reshape(-1)
    na, nb = mx.linalg.norm(af), mx.linalg.norm(bf)
    cos = mx.sum(af * bf) / (na * nb + eps)
    cos = mx.clip(cos, -1.0, 1.0)
    omega = mx.arccos(cos)
    so = mx.sin(omega)
    if so.item() < 1e-4:  # nearly parallel: plain interpolation
        return (1 - t) * a + t * b
    wa = mx.sin((1 - t) * omega) / so
    wb = mx.sin(t * omega) / so
    return (wa * af + wb * bf).reshape(a.shape)


def blend(ma, mb, t, how):
    pa, pb = dict(tree_flatten(ma.parameters())), dict(tree_flatten(mb.parameters()))
    merged = []
    for k in pa:
        if how == "slerp":
            merged.append((k, slerp_tensor(pa[k], pb[k], t)))
        else:
            merged.append((k, (1 - t) * pa[k] + t * pb[k]))
    m = Biomass()
    m.update(tree_unflatten(merged))
    mx.eval(m.parameters())
    return m


def main():
    t0 = time.time()
    keys = mx.random.split(mx.random.key(11), 8)
    # pooled survey: many flats with tilts spread around 0
    pooled = [make_flat(600, tl, k) for tl, k in zip([-1.0, -0.5, 0.0, 0.5, 1.0], mx.random.split(keys[0], 5))]
    xp = mx.concatenate([p[0] for p in pooled])
    yp = mx.concatenate([p[1] for p in pooled])
    xn, yn = make_flat(1500, 1.6, keys[1])
    xs, ys = make_flat(1500, -1.6, keys[2])
    xn_te, yn_te = make_flat(1000, 1.6, keys[3])
    xs_te, ys_te = make_flat(1000, -1.6, keys[4])

    base_n = mx.mean((yn_te - mx.mean(yn)) ** 2).item()
    base_s = mx.mean((ys_te - mx.mean(ys)) ** 2).item()
    print(f"predict-the-mean baseline  north {base_n:.4f}  south {base_s:.4f}  noise floor {NOISE**2:.4f}")

    print("== stage 1: pooled base")
    base = Biomass()
    mx.eval(base.parameters())
    fit(base, xp, yp, 1200, 3e-3, 100, "base", 200)
    print(f"base  north {evaluate(base, xn_te, yn_te):.4f}  south {evaluate(base, xs_te, ys_te):.4f}")

    print("== stage 2: per-flat fine-tunes (lr warm-up from 0)")
    north = clone(base)
    fit(north, xn, yn, 700, 1e-3, 80, "north", 175)
    south = clone(base)
    fit(south, xs, ys, 700, 1e-3, 80, "south", 175)
    for name, m in [("north", north), ("south", south)]:
        print(f"{name:5s} ft  north {evaluate(m, xn_te, yn_te):.4f}  south {evaluate(m, xs_te, ys_te):.4f}")

    print("== stage 3: blend sweep north->south (north mse rises with t by design)")
    sweep = {}
    for t in [0.0, 0.25, 0.5, 0.75, 1.0]:
        row = []
        for how in ["slerp", "linear"]:
            m = blend(north, south, t, how)
            en, es = evaluate(m, xn_te, yn_te), evaluate(m, xs_te, ys_te)
            row.append((how, en, es))
        sweep[t] = row
        print(f"t={t:.2f}  " + "  ".join(f"{h}: north {a:.4f} south {b:.4f}" for h, a, b in row))

    mid = blend(north, south, 0.5, "slerp")
    mid_avg = 0.5 * (evaluate(mid, xn_te, yn_te) + evaluate(mid, xs_te, ys_te))
    print(f"slerp t=0.5 mean-of-flats mse {mid_avg:.4f}")

    print("== stage 4: joint healing of the t=0.5 blend, checkpoint + resume")
    xj = mx.concatenate([xn, xs])
    yj = mx.concatenate([yn, ys])
    heal_steps, half = 600, 300
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 5e-4, 60), optim.cosine_decay(5e-4, heal_steps - 60, 1e-5)], [60]
    )
    opt = optim.Adam(learning_rate=sched)
    # first half runs silently; only the checkpoint line is printed
    fit(mid, xj, yj, half, 0, 0, "heal", 0, opt=opt)
    ckdir = tempfile.mkdtemp()
    wpath = os.path.join(ckdir, "heal.safetensors")
    opath = os.path.join(ckdir, "heal_opt.safetensors")
    mid.save_weights(wpath)
    mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
    print(f"checkpoint at step {half}: {os.path.basename(wpath)}")

    resumed = Biomass()
    resumed.load_weights(wpath)
    opt2 = optim.Adam(learning_rate=sched)
    opt2.state = tree_unflatten(list(mx.load(opath).items()))
    mx.eval(resumed.parameters(), opt2.state)
    print(f"resumed at optimizer step {int(opt2.state['step'])}  lr {float(opt2.learning_rate):.2e}")
    fit(resumed, xj, yj, heal_steps, 0, 0, "heal", 100, start=half, opt=opt2)

    hn, hs = evaluate(resumed, xn_te, yn_te), evaluate(resumed, xs_te, ys_te)
    fn, fs = evaluate(north, xn_te, yn_te), evaluate(south, xs_te, ys_te)
    print(f"healed blend  north {hn:.4f}  south {hs:.4f}  (specialists {fn:.4f} / {fs:.4f}, baselines {base_n:.4f} / {base_s:.4f})")
    assert hn < 0.3 * base_n and hs < 0.3 * base_s, "healed blend should beat the mean baselines"
    assert 0.5 * (hn + hs) < mid_avg, "healing should improve on the raw blend"
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
