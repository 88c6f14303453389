"""Harbour ferry: predict crossing minutes from sailing conditions.

The network runs its forward/backward pass in bfloat16 (cheap compute); an fp32
master copy of every weight is what the optimizer updates.  Each step the
masters are cast down, gradients come back in bf16 and are cast up again.
"""
import time
import numpy as np
import mlx.core as mx
import mlx.optimizers as optim
from mlx.utils import tree_map, tree_flatten

rng = np.random.default_rng(89)


def make_sailings(n):
    wind = rng.uniform(0, 35, n)          # knots
    head = rng.uniform(-1, 1, n)           # cos of wind angle vs course
    tide = rng.uniform(-3, 3, n)           # knots, + = with us
    load = rng.uniform(0, 1, n)            # fraction of deck full
    swell = rng.gamma(2.0, 0.6, n)         # metres
    night = (rng.uniform(0, 1, n) < 0.3).astype(np.float64)
    mins = (22.0 + 0.012 * wind ** 2 * np.maximum(head, 0) - 1.1 * tide
            + 3.0 * load + 2.2 * np.tanh(swell - 1.0) + 1.5 * night
            + 0.9 * swell * load + rng.normal(0, 0.7, n))
    X = np.stack([wind, head, tide, load, swell, night], 1)
    return X.astype(np.float32), mins.astype(np.float32)


Xtr, ytr = make_sailings(9000)
Xte, yte = make_sailings(2000)
mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = ytr.mean(), ytr.std()
Xtr, Xte = (Xtr - mu) / sd, (Xte - mu) / sd
ttr = (ytr - ymu) / ysd

Xtr_m, ttr_m = mx.array(Xtr), mx.array(ttr)
Xte_m = mx.array(Xte)


def init_params(key, sizes):
    params = []
    keys = mx.random.split(key, len(sizes) - 1)
    for k, (a, b) in zip(keys, zip(sizes[:-1], sizes[1:])):
        w = mx.random.normal((a, b), key=k) * (1.0 / np.sqrt(a))
        params.append({"w": w, "b": mx.zeros((b,))})
    return {"layers": params}


def forward(p, x):
    h = x
    layers = p["layers"]
    for layer in layers[:-1]:
        h = mx.maximum(h @ layer["w"] + layer["b"], 0.0)
    out = h @ layers[-1]["w"] + layers[-1]["b"]
    return out.squeeze(-1)


def loss_bf16(p16, x, t):
    pred = forward(p16, x.astype(mx.bfloat16)).astype(mx.float32)
    return mx.mean(mx.square(pred - t))


grad_fn = mx.value_and_grad(loss_bf16)

master = init_params(mx.random.key(7), [6, 96, 96, 1])
opt = optim.AdamW(learning_rate=optim.cosine_decay(3e-3, 2400, 3e-5), weight_decay=1e-4)
opt.init(master)
mx.eval(master, opt.state)


def to_bf16(tree):
    return tree_map(lambda a: a.astype(mx.bfloat16), tree)


def to_fp32(tree):
    return tree_map(lambda a: a.astype(mx.float32), tree)


def test_minutes_mae(p):
    pred = forward(p, Xte_m) * ysd + ymu        # evaluation in fp32 masters
    return float(mx.mean(mx.abs(pred - mx.array(yte))))


def sexp(tag, **kw):
    parts = []
    for k, v in kw.items():
        if isinstance(v, float):
            v = f"{v:.4f}"
        parts.append(f":{k.replace('_', '-')} {v}")
    print(f"({tag} " + " ".join(parts) + ")", flush=True)


sexp("data", train=len(Xtr), test=len(Xte), mean_guess_mae=float(np.abs(yte - ymu).mean()))
sexp("untrained", step=0, test_mae_min=test_minutes_mae(master))

BATCH, STEPS = 64, 2400
perm, cursor = rng.permutation(len(Xtr)), 0
window, t0 = [], time.time()
for step in range(1, STEPS + 1):
    if cursor + BATCH > len(perm):
        perm, cursor = rng.permutation(len(Xtr)), 0
    idx = mx.array(perm[cursor:cursor + BATCH])
    cursor += BATCH

    p16 = to_bf16(master)
    loss, g16 = grad_fn(p16, Xtr_m[idx], ttr_m[idx])
    grads = to_fp32(g16)
    if step == 1:
        flat = tree_flatten(grads)
        zero = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
        sexp("grad-check", leaves=len(flat), zero=f"'({' '.join(zero)})",
             dtype=str(g16["layers"][0]["w"].dtype).split(".")[-1])
    master = opt.apply_gradients(grads, master)
    mx.eval(master, opt.state, loss)
    window.append(loss.item())

    if step in (1, 50) or step % 400 == 0:
        sexp("report", step=step, lr=f"{float(opt.learning_rate):.2e}",
             train_mse_std=float(np.mean(window)), test_mae_min=test_minutes_mae(master),
             master_dtype=str(master["layers"][0]["w"].dtype).split(".")[-1],
             secs=round(time.time() - t0, 1))
        window = []

sexp("done", noise_floor_mae_min=0.7 * np.sqrt(2 / np.pi), final_test_mae_min=test_minutes_mae(master))
