"""PDE discovery from a sampled field: which library terms drive u_t?

The field is an advection-diffusion solution u_t = -c u_x + nu u_xx (c = 0.5,
nu = 0.1) sampled on a periodic grid; the time derivative is observed with
noise. Nine candidate terms, columns scaled to unit RMS. Coefficients and a
noise scale are fitted by the Gaussian negative log-likelihood (it goes below
zero once the fitted scale is small), with Adam, a soft-threshold (proximal)
step on the coefficients after every update, and a cosine learning-rate
schedule that restarts every cycle. At the end of each cycle terms whose
coefficient is exactly zero are dropped for good. A last cycle without the
penalty removes the shrinkage bias on the surviving terms.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SEED = 11
C_TRUE, NU_TRUE, SIGMA = 0.5, 0.1, 0.01
rng = np.random.default_rng(SEED)
mx.random.seed(SEED)

# ---- field and its exact derivatives -------------------------------------------------
x = np.linspace(0, 2 * np.pi, 128, endpoint=False)
t = np.linspace(0, 2.0, 64)
X, T = np.meshgrid(x, t, indexing="ij")
amps = [1.0, 0.6, 0.35]
phases = rng.uniform(0, 2 * np.pi, 3)
u = np.zeros_like(X); ux = np.zeros_like(X); uxx = np.zeros_like(X); uxxx = np.zeros_like(X)
for k, (a, ph) in enumerate(zip(amps, phases), start=1):
    decay = a * np.exp(-NU_TRUE * k * k * T)
    arg = k * (X - C_TRUE * T) + ph
    u += decay * np.sin(arg)
    ux += decay * k * np.cos(arg)
    uxx += -decay * k * k * np.sin(arg)
    uxxx += -decay * k ** 3 * np.cos(arg)
ut = -C_TRUE * ux + NU_TRUE * uxx
ut_obs = ut + SIGMA * rng.standard_normal(ut.shape)

names = ["1", "u", "u_x", "u_xx", "u_xxx", "u*u_x", "u^2", "u^3", "u*u_xx"]
cols = [np.ones_like(u), u, ux, uxx, uxxx, u * ux, u * u, u ** 3, u * uxx]
Theta = np.stack([c.ravel() for c in cols], 1)
scale = np.sqrt(np.mean(Theta ** 2, 0))
Theta_n = (Theta / scale).astype(np.float32)
target = ut_obs.ravel().astype(np.float32)
true_coef = np.zeros(len(names)); true_coef[2] = -C_TRUE; true_coef[3] = NU_TRUE

A = mx.array(Theta_n)
b = mx.array(target)
N = A.shape[0]

# dense least squares on all nine terms, for reference
dense, *_ = np.linalg.lstsq(Theta, target, rcond=None)


class SparseLaw(nn.Module):
    def __init__(self, n_terms):
        super().__init__()
        self.xi = mx.zeros((n_terms,))
        self.log_sigma = mx.array(0.0)

    def __call__(self, a):
        return a @ self.xi


def nll(model, a, y):
    r = model(a) - y
    s2 = mx.exp(2 * model.log_sigma)
    return mx.mean(0.5 * r * r / s2) + model.log_sigma + 0.5 * math.log(2 * math.pi)


CYCLE = 400
LR0, LR_MIN = 2e-2, 1e-4


def restart_cosine(step):
    s = (step % CYCLE).astype(mx.float32)
    return LR_MIN + 0.5 * (LR0 - LR_MIN) * (1 + mx.cos(math.pi * s / CYCLE))


def main():
    t0 = time.time()
    model = SparseLaw(len(names))
    opt = optim.Adam(learning_rate=restart_cosine)
    vg = nn.value_and_grad(model, nll)
    support = mx.ones((len(names),))
    batch = 2048
    ideal = 0.5 + math.log(SIGMA) + 0.5 * math.log(2 * math.pi)
    print(f"{N} space-time samples, {len(names)} candidate terms; "
          f"NLL at the true law and true noise = {ideal:.3f}")
    print("dense least squares (all terms): " +
          ", ".join(f"{n}:{c:+.3f}" for n, c in zip(names, dense)))

    print(f"start   (init  ) step     0 | NLL {nll(model, A, b).item():+.4f} | sigma 1.0000 | terms {len(names)}")
    step = 0
    plan = [("prox", 3e-3), ("prox", 3e-3), ("prox", 3e-3), ("debias", 0.0)]
    for cyc, (kind, lam) in enumerate(plan):
        for _ in range(CYCLE):
            idx = mx.array(rng.integers(0, N, size=batch))
            loss, grads = vg(model, A[idx], b[idx])
            lr_now = opt.learning_rate
            opt.update(model, grads)
            xi = model.xi
            if lam > 0:
                thr = lr_now * lam
                xi = mx.sign(xi) * mx.maximum(mx.abs(xi) - thr, 0.0)
            model.xi = xi * support
            mx.eval(model.parameters(), opt.state)
            step += 1
        if kind == "prox":
            support = support * (mx.abs(model.xi) > 1e-3).astype(mx.float32)
            model.xi = model.xi * support
            mx.eval(model.xi, support)
        full = nll(model, A, b).item()
        phys = np.array(model.xi) / scale
        kept = [n for n, s in zip(names, np.array(support)) if s > 0]
        err = np.max(np.abs(phys - true_coef))
        print(f"cycle {cyc} ({kind:6s}) step {step:5d} | NLL {full:+.4f} | sigma "
              f"{math.exp(model.log_sigma.item()):.4f} | terms {len(kept)} {kept} | "
              f"max coef err {err:.4f}")

    phys = np.array(model.xi) / scale
    print("recovered: u_t = " + " ".join(f"{c:+.4f}*{n}" for n, c in zip(names, phys) if c != 0))
    print(f"true:      u_t = {-C_TRUE:+.4f}*u_x {NU_TRUE:+.4f}*u_xx")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
