"""Hop oast: joint forecast of (final cone moisture %, alpha-acid retention %) after a
kiln charge, as a generative model trained with the energy score (engression).

Sample-based probabilistic regression: the network takes the kiln readings plus a
fresh Gaussian noise vector and returns one plausible outcome. Training minimises
    ES = mean_j ||X_j - y|| - 1/(2 m (m-1)) sum_{j!=k} ||X_j - X_k||
over m draws per charge. The score never reaches zero: it bottoms out at the
spread of the true outcome distribution (printed as the oracle floor).
"""
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(2024)
mx.random.seed(7)

N_TRAIN, N_VAL = 3200, 800
NOISE_DIM = 3
M_DRAWS = 4
BATCH = 128
EPOCHS_A, EPOCHS_B = 5, 5


def kiln_law(x, rng):
    """x: (n,5) standardised readings -> (n,2) outcome draws from the true law."""
    temp, flow, depth, moist0, hours = x.T
    n = x.shape[0]
    m_mean = 9.5 + 2.4 * moist0 - 1.8 * hours - 1.1 * temp - 0.7 * flow + 0.9 * depth
    a_mean = 88.0 - 3.5 * temp - 1.2 * hours + 0.8 * flow - 0.4 * depth * temp
    # scorched charges: hot, deep loads sometimes lose a lot of alpha acid
    p_scorch = 1.0 / (1.0 + np.exp(-(1.6 * temp + 0.9 * depth - 2.2)))
    scorched = rng.random(n) < p_scorch
    a_mean = a_mean - 9.0 * scorched
    sd_m = 0.6 + 0.35 * np.abs(depth)
    sd_a = 1.4 + 0.5 * (temp > 0.5)
    z1 = rng.standard_normal(n)
    z2 = 0.55 * z1 + math.sqrt(1 - 0.55**2) * rng.standard_normal(n)
    return np.stack([m_mean + sd_m * z1, a_mean + sd_a * z2], axis=1)


x_all = rng.standard_normal((N_TRAIN + N_VAL, 5)).astype(np.float32)
y_all = kiln_law(x_all, rng).astype(np.float32)
y_mu, y_sd = y_all[:N_TRAIN].mean(0), y_all[:N_TRAIN].std(0)
y_std = (y_all - y_mu) / y_sd
x_tr, y_tr = x_all[:N_TRAIN], y_std[:N_TRAIN]
x_va, y_va = x_all[N_TRAIN:], y_std[N_TRAIN:]


def safe_norm(d):
    return mx.sqrt(mx.sum(d * d, axis=-1) + 1e-12)


def energy_score(draws, y):
    """draws: (m, n, 2), y: (n, 2) -> mean energy score over the n charges."""
    m = draws.shape[0]
    fit = mx.mean(safe_norm(draws - y[None]), axis=0)
    pair = safe_norm(draws[:, None] - draws[None, :])  # (m, m, n), zero diagonal
    spread = mx.sum(pair, axis=(0, 1)) / (2 * m * (m - 1))
    return mx.mean(fit - spread)


# the floor: energy score of draws from the true law itself (numpy, silent)
def oracle_floor(x, y, reps=8):
    out = []
    for _ in range(reps):
        d = np.stack([(kiln_law(x, rng) - y_mu) / y_sd for _ in range(M_DRAWS)])
        out.append(energy_score(mx.array(d.astype(np.float32)), mx.array(y)).item())
    return float(np.mean(out))


def climatology_es(y_pool, y, reps=8):
    out = []
    for _ in range(reps):
        idx = rng.integers(0, len(y_pool), size=(M_DRAWS, len(y)))
        out.append(energy_score(mx.array(y_pool[idx]), mx.array(y)).item())
    return float(np.mean(out))


class Engressor(nn.Module):
    def __init__(self, d_in=5, d_noise=NOISE_DIM, width=48):
        super().__init__()
        self.d_noise = d_noise
        self.l1 = nn.Linear(d_in + d_noise, width)
        self.l2 = nn.Linear(width, width)
        self.l3 = nn.Linear(width, width)
        self.out = nn.Linear(width, 2)

    def __call__(self, x, m):
        n = x.shape[0]
        xr = mx.broadcast_to(x[None], (m, n, x.shape[1]))
        eps = mx.random.normal((m, n, self.d_noise))
        h = nn.silu(self.l1(mx.concatenate([xr, eps], axis=-1)))
        h = nn.silu(self.l2(h)) + h
        h = nn.silu(self.l3(h)) + h
        return self.out(h)


def loss_fn(model, x, y):
    return energy_score(model(x, M_DRAWS), y)


def make_opt(total_steps):
    warm = 60
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, warm),
         optim.cosine_decay(2e-3, total_steps - warm, 1e-4)],
        [warm],
    )
    return optim.Adam(learning_rate=sched), sched


def evaluate(model, x, y):
    xs, ys = mx.array(x), mx.array(y)
    es = energy_score(model(xs, M_DRAWS), ys).item()
    draws = np.array(model(xs, 60))  # (60, n, 2)
    lo, hi = np.quantile(draws, 0.05, axis=0), np.quantile(draws, 0.95, axis=0)
    cover = ((y >= lo) & (y <= hi)).mean(0) * 100.0
    return es, cover


def run_epochs(model, opt, sched, vg, first_epoch, n_epochs, tag):
    steps_per_epoch = N_TRAIN // BATCH
    for ep in range(first_epoch, first_epoch + n_epochs):
        t0 = time.perf_counter()
        perm = rng.permutation(N_TRAIN)
        run = []
        for b in range(steps_per_epoch):
            idx = perm[b * BATCH:(b + 1) * BATCH]
            loss, grads = vg(model, mx.array(x_tr[idx]), mx.array(y_tr[idx]))
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run.append(loss.item())
        es_v, cov = evaluate(model, x_va, y_va)
        lr_now = sched(opt.state["step"]).item()
        print(f"[oast:{tag}] ep {ep:02d}/{EPOCHS_A + EPOCHS_B} . es {np.mean(run):.4f}"
              f" . es_val {es_v:.4f} . cover90 moist {cov[0]:.1f}% alpha {cov[1]:.1f}%"
              f" . lr {lr_now:.2e} . {time.perf_counter() - t0:.1f}s")


def main():
    floor = oracle_floor(x_va, y_va)
    clim = climatology_es(y_tr, y_va)
    print(f"[oast] charges train={N_TRAIN} val={N_VAL} draws/charge={M_DRAWS}")
    print(f"[oast] oracle floor es_val={floor:.4f}  climatology es_val={clim:.4f}")

    total = (EPOCHS_A + EPOCHS_B) * (N_TRAIN // BATCH)
    model = Engressor()
    mx.eval(model.parameters())
    opt, sched = make_opt(total)
    vg = nn.value_and_grad(model, loss_fn)

    # step 1 runs at lr exactly 0: parameters must not move, gradients must exist
    before = [v for _, v in tree_flatten(model.parameters())]
    loss, grads = vg(model, mx.array(x_tr[:BATCH]), mx.array(y_tr[:BATCH]))
    gmax = max(mx.abs(g).max().item() for _, g in tree_flatten(grads))
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state)
    moved = max(mx.abs(a - b).max().item()
                for a, (_, b) in zip(before, tree_flatten(model.parameters())))
    print(f"[oast] step1 lr={sched(mx.array(0)).item():.1f} es={loss.item():.4f}"
          f" max|grad|={gmax:.3e} max|dW|={moved:.1e}")
    es0, cov0 = evaluate(model, x_va, y_va)
    print(f"[oast] untrained es_val {es0:.4f} cover90 {cov0[0]:.1f}% {cov0[1]:.1f}%")

    run_epochs(model, opt, sched, vg, 1, EPOCHS_A, "a")

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model.save_weights(str(tmp / "oast.safetensors"))
        mx.save_safetensors(str(tmp / "opt.safetensors"), dict(tree_flatten(opt.state)))
        print(f"[oast] checkpoint written at optimizer step {opt.state['step'].item()}")
        del model, opt, vg

        model = Engressor()
        model.load_weights(str(tmp / "oast.safetensors"))
        opt, sched = make_opt(total)
        opt.init(model.trainable_parameters())
        opt.state = tree_unflatten(list(mx.load(str(tmp / "opt.safetensors")).items()))
        mx.eval(model.parameters(), opt.state)
        vg = nn.value_and_grad(model, loss_fn)
        print(f"[oast] resumed at optimizer step {opt.state['step'].item()}"
              f" lr {sched(opt.state['step']).item():.2e}")

    run_epochs(model, opt, sched, vg, EPOCHS_A + 1, EPOCHS_B, "b")

    es_v, cov = evaluate(model, x_va, y_va)
    draws = np.array(model(mx.array(x_va[:1]), 2000))[:, 0] * y_sd + y_mu
    print(f"[oast] final es_val {es_v:.4f} (floor {floor:.4f}, climatology {clim:.4f})")
    print(f"[oast] charge 0: moisture {draws[:, 0].mean():.2f}+-{draws[:, 0].std():.2f} %"
          f"  alpha retention {draws[:, 1].mean():.1f}+-{draws[:, 1].std():.1f} %")


if __name__ == "__main__":
    main()
