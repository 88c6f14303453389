"""Overhead contact-wire wear on a tram network.

Regress the yearly loss of wire height (mm) from seven inspection readings with a
deep residual MLP held as a plain dict of arrays.  Activation recomputation is
switched on in stages: first no recomputation, then the residual stack is cut
into segments of two blocks, then four blocks, each segment evaluated through
mx.checkpoint with its block weights passed in as explicit arguments.
The run is reported as Fortran NAMELIST groups.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.optimizers as optim
from mlx.utils import tree_flatten

SEED = 317
D_IN, WIDTH, HIDDEN, N_BLOCKS = 7, 48, 96, 8
BATCH = 128
STAGES = [("plain", 0, 200), ("seg2", 2, 200), ("seg4", 4, 200)]
TOTAL = sum(s[2] for s in STAGES)
WARM = 80
PEAK_LR, END_LR = 2e-3, 1e-5
REPORT_EVERY = 100
NOISE_MM = 0.05


def make_data(n, rng):
    speed = rng.uniform(10, 70, n)            # km/h past the span
    current = rng.uniform(100, 900, n)        # A drawn by the pantograph
    uplift = rng.uniform(40, 120, n)          # N static contact force
    stagger = rng.uniform(-0.3, 0.3, n)       # m zig-zag offset
    passes = rng.uniform(0.5, 6.0, n)         # thousand pantograph passes per day
    ice = rng.binomial(1, 0.2, n).astype(np.float64)
    grease = rng.uniform(0, 1, n)
    wear = (0.08 * passes * (1 + 0.004 * current) * (uplift / 80.0) ** 1.4
            * np.exp(-1.2 * grease) * (1 + 0.3 * ice)
            + 0.02 * speed / 70.0 - 0.15 * np.abs(stagger) + 0.25)
    wear = wear + rng.normal(0, NOISE_MM, n)
    x = np.stack([speed, current, uplift, stagger, passes, ice, grease], 1)
    return x.astype(np.float32), wear.astype(np.float32)


def init_params(key):
    keys = mx.random.split(key, 2 * N_BLOCKS + 2)
    lim_in = 1 / math.sqrt(D_IN)
    p = {"stem_w": mx.random.uniform(-lim_in, lim_in, (D_IN, WIDTH), key=keys[0]),
         "stem_b": mx.zeros((WIDTH,)), "blocks": []}
    for i in range(N_BLOCKS):
        l1 = 1 / math.sqrt(WIDTH)
        l2 = 1 / math.sqrt(HIDDEN)
        p["blocks"].append({
            "ln_g": mx.ones((WIDTH,)), "ln_b": mx.zeros((WIDTH,)),
            "w1": mx.random.uniform(-l1, l1, (WIDTH, HIDDEN), key=keys[1 + 2 * i]),
            "b1": mx.zeros((HIDDEN,)),
            "w2": 0.3 * mx.random.uniform(-l2, l2, (HIDDEN, WIDTH), key=keys[2 + 2 * i]),
            "b2": mx.zeros((WIDTH,)),
        })
    lh = 1 / math.sqrt(WIDTH)
    p["head_w"] = mx.random.uniform(-lh, lh, (WIDTH, 1), key=keys[-1])
    p["head_b"] = mx.zeros((1,))
    return p


def block(bp, h):
    z = mx.fast.layer_norm(h, bp["ln_g"], bp["ln_b"], 1e-5)
    z = z @ bp["w1"] + bp["b1"]
    z = z * mx.sigmoid(1.702 * z)
    return h + z @ bp["w2"] + bp["b2"]


def segment(block_list, h):
    for bp in block_list:
        h = block(bp, h)
    return h


segment_ckpt = mx.checkpoint(segment)


def forward(p, x, seg_len):
    h = x @ p["stem_w"] + p["stem_b"]
    if seg_len == 0:
        h = segment(p["blocks"], h)
    else:
        for s in range(0, N_BLOCKS, seg_len):
            h = segment_ckpt(p["blocks"][s:s + seg_len], h)
    return (h @ p["head_w"] + p["head_b"]).squeeze(-1)


def mse(p, x, y, seg_len):
    return mx.mean((forward(p, x, seg_len) - y) ** 2)


def lr_at(step):
    # step counts updates from 0; update 0 runs at exactly 0
    if step < WARM:
        return PEAK_LR * step / WARM
    t = (step - WARM) / max(1, TOTAL - WARM)
    return END_LR + 0.5 * (PEAK_LR - END_LR) * (1 + math.cos(math.pi * t))


def peak_kib(p, x, y, seg_len):
    fn = mx.value_and_grad(mse)
    mx.eval(p)
    mx.synchronize()
    mx.clear_cache()
    mx.reset_peak_memory()
    before = mx.get_active_memory()
    loss, g = fn(p, x, y, seg_len)
    mx.eval(loss, g)
    return (mx.get_peak_memory() - before) / 1024.0


def nl(group, **kw):
    parts = []
    for k, v in kw.items():
        if isinstance(v, str):
            parts.append(f"{k}='{v}'")
        elif isinstance(v, float):
            parts.append(f"{k}={v:.6g}")
        else:
            parts.append(f"{k}={v}")
    print(f" &{group} " + ", ".join(parts) + " /", flush=True)


def main():
    t0 = time.time()
    rng = np.random.default_rng(SEED)
    xtr, ytr = make_data(12000, rng)
    xva, yva = make_data(3000, rng)
    mu, sd = xtr.mean(0), xtr.std(0)
    ymu, ysd = ytr.mean(), ytr.std()
    xtr_s, xva_s = (xtr - mu) / sd, (xva - mu) / sd
    Xtr, Ytr = mx.array(xtr_s), mx.array((ytr - ymu) / ysd)
    Xva = mx.array(xva_s)
    base_rmse = float(np.sqrt(np.mean((yva - ymu) ** 2)))
    nl("DATA", ntrain=len(ytr), nvalid=len(yva), wear_mean_mm=float(ymu),
       baseline_rmse_mm=base_rmse, noise_floor_mm=NOISE_MM)

    params = init_params(mx.random.key(SEED))
    n_par = sum(v.size for _, v in tree_flatten(params))
    opt = optim.AdamW(learning_rate=0.0, weight_decay=1e-4)
    opt.init(params)

    def valid_rmse(p):
        pred = forward(p, Xva, 0) * ysd + ymu
        return float(mx.sqrt(mx.mean((pred - mx.array(yva)) ** 2)))

    nl("MODEL", blocks=N_BLOCKS, width=WIDTH, hidden=HIDDEN, nparams=n_par,
       valid_rmse_mm_untrained=valid_rmse(params))

    probe_x, probe_y = Xtr[:BATCH], Ytr[:BATCH]
    perm = rng.permutation(len(ytr))
    cursor = 0
    step = 0
    window = []
    prev_seg = None
    for name, seg_len, n_steps in STAGES:
        grad_fn = mx.value_and_grad(mse)
        # stage entry: compare this stage's gradients with plain autodiff on a probe batch
        _, g_ref = mx.value_and_grad(mse)(params, probe_x, probe_y, 0)
        _, g_new = grad_fn(params, probe_x, probe_y, seg_len)
        diffs = [float(mx.max(mx.abs(a - b))) for (_, a), (_, b)
                 in zip(tree_flatten(g_ref), tree_flatten(g_new))]
        zero_leaves = sum(1 for _, a in tree_flatten(g_new) if float(mx.max(mx.abs(a))) == 0.0)
        kib_plain = peak_kib(params, probe_x, probe_y, 0)
        kib_mode = peak_kib(params, probe_x, probe_y, seg_len)
        nl("STAGE", name=name, segment_blocks=seg_len, from_stage=prev_seg or "none",
           at_step=step, grad_leaves=len(diffs), zero_leaves=zero_leaves,
           grad_maxdiff=max(diffs), bwd_peak_kib_plain=kib_plain,
           bwd_peak_kib_this=kib_mode)
        prev_seg = name
        for _ in range(n_steps):
            if cursor + BATCH > len(perm):
                perm = rng.permutation(len(ytr))
                cursor = 0
            idx = mx.array(perm[cursor:cursor + BATCH])
            cursor += BATCH
            lr = lr_at(step)
            opt.learning_rate = lr
            loss, grads = grad_fn(params, Xtr[idx], Ytr[idx], seg_len)
            params = opt.apply_gradients(grads, params)
            mx.eval(params, opt.state, loss)
            window.append(float(loss))
            step += 1
            if step == 1:
                nl("FIRST", step=step, lr=lr, train_mse_z=float(loss),
                   note="first update at lr 0")
            if step % REPORT_EVERY == 0:
                nl("REPORT", step=step, stage=name, lr=lr,
                   train_mse_z=float(np.mean(window)), valid_rmse_mm=valid_rmse(params),
                   secs=round(time.time() - t0, 1))
                window = []
    final = valid_rmse(params)
    nl("DONE", steps=step, valid_rmse_mm=final, baseline_rmse_mm=base_rmse,
       noise_floor_mm=NOISE_MM, secs=round(time.time() - t0, 1))


if __name__ == "__main__":
    main()
