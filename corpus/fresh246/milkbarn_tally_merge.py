# Dairy co-op milk-yield model: one regional base net, two farm fine-tunes,
# then the farm task vectors are merged back into one model (task arithmetic
# and TIES-merging) so a single file can be shipped to both milking parlours.
#
# Output is written as Fortran-style namelist records (&group key=value /),
# because the co-op's yield planner reads namelists.

import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten, tree_map

rng = np.random.default_rng(7)
mx.random.seed(7)

N_FEAT = 6  # parity, days in milk, feed kg, THI, Holstein share, milkings/day
CODE_DIM = 2  # farm code: [hill, valley]; regional pool is [0, 0]


def base_law(x):
    lact = 1.2 * np.exp(-((x[:, 1] - 0.3) ** 2)) - 0.35 * x[:, 1]
    return (
        lact
        + 0.55 * np.tanh(x[:, 2])
        - 0.30 * np.maximum(x[:, 3], 0.0) ** 2
        + 0.25 * x[:, 4]
        + 0.20 * x[:, 5]
        + 0.15 * np.minimum(x[:, 0], 1.0)
    )


def hill_shift(x):
    # cold barns: heat stress barely matters, feed response saturates early
    return 0.28 * np.maximum(x[:, 3], 0.0) ** 2 - 0.45 * np.tanh(1.5 * x[:, 2]) + 0.35


def valley_shift(x):
    # three milkings a day pay off much more, older cows drop faster
    return 0.50 * x[:, 5] - 0.30 * np.maximum(x[:, 0], 0.0) - 0.20


def make_rows(n, farm):
    x = rng.normal(size=(n, N_FEAT)).astype(np.float32)
    y = base_law(x)
    code = np.zeros((n, CODE_DIM), np.float32)
    if farm == "hill":
        y = y + hill_shift(x)
        code[:, 0] = 1.0
    elif farm == "valley":
        y = y + valley_shift(x)
        code[:, 1] = 1.0
    y = y + 0.15 * rng.normal(size=n)
    return np.concatenate([x, code], 1), y.astype(np.float32)[:, None]


data = {}
for farm, n_tr in (("pool", 4000), ("hill", 900), ("valley", 900)):
    xtr, ytr = make_rows(n_tr, farm)
    xte, yte = make_rows(800, farm)
    data[farm] = tuple(mx.array(a) for a in (xtr, ytr, xte, yte))
NOISE_MSE = 0.15 ** 2


class YieldNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(N_FEAT + CODE_DIM, 64)
        self.mid = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        h = nn.silu(self.mid(h))
        return self.out(h)


def mse(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def namelist(group, **kv):
    parts = []
    for k, v in kv.items():
        if isinstance(v, str):
            parts.append(f"{k}='{v}'")
        elif isinstance(v, int):
            parts.append(f"{k}={v}")
        else:
            parts.append(f"{k}={v:.5f}")
    print(f"&{group} " + ", ".join(parts) + " /")


def fit(model, farm, steps, lr, batch, tag, report_every):
    xtr, ytr, xte, yte = data[farm]
    opt = optim.Adam(learning_rate=lr)
    loss_and_grad = nn.value_and_grad(model, mse)
    n = xtr.shape[0]
    for step in range(1, steps + 1):
        idx = mx.array(rng.integers(0, n, size=batch))
        loss, grads = loss_and_grad(model, xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % report_every == 0 or step == 1:
            namelist(
                "fit",
                stage=tag,
                step=step,
                lr=float(lr if not callable(lr) else lr(opt.step)),
                batch_mse=loss.item(),
                test_mse=mse(model, xte, yte).item(),
            )


def clone(model):
    twin = YieldNet()
    twin.update(tree_map(lambda a: mx.array(a), model.parameters()))
    mx.eval(twin.parameters())
    return twin


def flat(model):
    return dict(tree_flatten(model.parameters()))


def load_flat(flat_params):
    m = YieldNet()
    m.update(tree_unflatten(list(flat_params.items())))
    mx.eval(m.parameters())
    return m


def evaluate(model):
    return {f: mse(model, data[f][2], data[f][3]).item() for f in ("pool", "hill", "valley")}


t0 = time.time()
namelist("header", noise_floor_mse=NOISE_MSE, n_pool=4000, n_hill=900, n_valley=900)
for farm in ("pool", "hill", "valley"):
    yte = data[farm][3]
    namelist("baseline", name="mean_predictor", farm=farm, mse=mx.var(yte).item())

# ---- stage 1: regional base model ----------------------------------------
base = YieldNet()
mx.eval(base.parameters())
sched = optim.cosine_decay(3e-3, 1500, end=1e-4)
fit(base, "pool", 1500, sched, 128, "regional_base", 300)
base_flat = {k: mx.array(v) for k, v in flat(base).items()}
base_scores = evaluate(base)
namelist("score", model="base", **{f"mse_{k}": v for k, v in base_scores.items()})

# ---- stage 2: full fine-tune per farm, starting from the base ----------
specialists = {}
for farm in ("hill", "valley"):
    ft = clone(base)
    fit(ft, farm, 500, 1e-3, 64, f"finetune_{farm}", 100)
    specialists[farm] = ft
    sc = evaluate(ft)
    namelist("score", model=f"ft_{farm}", **{f"mse_{k}": v for k, v in sc.items()})

task_vec = {
    farm: {k: flat(m)[k] - base_flat[k] for k in base_flat}
    for farm, m in specialists.items()
}
for farm, tv in task_vec.items():
    norm = math.sqrt(sum(mx.sum(v * v).item() for v in tv.values()))
    namelist("taskvec", farm=farm, l2_norm=norm)
cos = sum(mx.sum(task_vec["hill"][k] * task_vec["valley"][k]).item() for k in base_flat)
cos /= math.sqrt(sum(mx.sum(v * v).item() for v in task_vec["hill"].values()))
cos /= math.sqrt(sum(mx.sum(v * v).item() for v in task_vec["valley"].values()))
namelist("taskvec", pair="hill_valley", cosine=cos)

# ---- stage 3: merging (no optimizer from here on) ------------------------
for lam in (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5):
    merged = {k: base_flat[k] + lam * (task_vec["hill"][k] + task_vec["valley"][k]) for k in base_flat}
    m = load_flat(merged)
    sc = evaluate(m)
    extra = {}
    if lam == 0.0:
        extra["max_abs_diff_vs_base"] = mx.max(mx.abs(m(data["pool"][2]) - base(data["pool"][2]))).item()
    namelist("merge", method="task_arith", lam=lam, **{f"mse_{k}": v for k, v in sc.items()}, **extra)


def ties_merge(vectors, keep, lam):
    out = {}
    kept_total, elem_total = 0, 0
    for k in base_flat:
        trimmed = []
        for tv in vectors:
            v = tv[k]
            flat_abs = mx.abs(v).reshape(-1)
            n_keep = max(1, int(round(keep * flat_abs.size)))
            thresh = mx.sort(flat_abs)[-n_keep]
            trimmed.append(mx.where(mx.abs(v) >= thresh, v, 0.0))
        stack = mx.stack(trimmed)
        sign = mx.sign(mx.sum(stack, axis=0))
        agree = (mx.sign(stack) == sign) & (stack != 0)
        count = mx.sum(agree, axis=0)
        total = mx.sum(mx.where(agree, stack, 0.0), axis=0)
        merged_tv = mx.where(count > 0, total / mx.maximum(count, 1), 0.0)
        kept_total += int(mx.sum(merged_tv != 0).item())
        elem_total += merged_tv.size
        out[k] = base_flat[k] + lam * merged_tv
    return out, kept_total / elem_total


for keep in (0.1, 0.2, 0.5):
    for lam in (0.8, 1.0, 1.2):
        merged, density = ties_merge([task_vec["hill"], task_vec["valley"]], keep, lam)
        sc = evaluate(load_flat(merged))
        namelist("merge", method="ties", keep=keep, lam=lam, density=density,
                 **{f"mse_{k}": v for k, v in sc.items()})

drift = max(mx.max(mx.abs(flat(base)[k] - base_flat[k])).item() for k in base_flat)
namelist("footer", base_param_drift=drift, seconds=time.time() - t0)
