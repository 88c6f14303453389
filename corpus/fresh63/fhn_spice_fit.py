"""Recover FitzHugh-Nagumo neuron parameters (a, b, tau) from noisy voltage traces.

The model is integrated with forward Euler inside the loss; we fit by gradient
descent through the whole trajectory.  Output mimics an ngspice deck.
"""
import math
import time

import mlx.core as mx
import mlx.optimizers as optim
import numpy as np

DT = 0.2
NSTEPS = 200
CURRENTS = [0.35, 0.5, 0.75, 1.0]
TRUE = {"a": 0.7, "b": 0.8, "tau": 12.5}


def simulate(a, b, tau, I):
    """Euler-integrate a batch of neurons, one per injected current."""
    v = mx.full(I.shape, -1.2)
    w = mx.full(I.shape, -0.6)
    vs = []
    for _ in range(NSTEPS):
        dv = v - v * v * v / 3.0 - w + I
        dw = (v + a - b * w) / tau
        v = v + DT * dv
        w = w + DT * dw
        vs.append(v)
    return mx.stack(vs, axis=1)          # (n_currents, NSTEPS)


def unpack(p):
    return p["a"], p["b"], mx.exp(p["log_tau"])


rng = np.random.default_rng(7)
I = mx.array(CURRENTS)
clean = simulate(mx.array(TRUE["a"]), mx.array(TRUE["b"]), mx.array(TRUE["tau"]), I)
noise_sd = 0.05
v_obs = clean + mx.array(rng.normal(0, noise_sd, clean.shape).astype(np.float32))
mx.eval(v_obs)

params = {"a": mx.array(0.55), "b": mx.array(0.65), "log_tau": mx.array(math.log(10.0))}


def loss_fn(p):
    a, b, tau = unpack(p)
    v = simulate(a, b, tau, I)
    return mx.mean((v - v_obs) ** 2)


loss_and_grad = mx.compile(mx.value_and_grad(loss_fn))
opt = optim.Adam(learning_rate=optim.cosine_decay(0.02, 300, 1e-3))

print("* fhn_fit.cir -- FitzHugh-Nagumo parameter extraction")
print(f"* traces={len(CURRENTS)} steps={NSTEPS} dt={DT} noise_sd={noise_sd}")
l0, g0 = loss_and_grad(params)
zero = [k for k, g in g0.items() if float(mx.abs(g)) == 0.0]
print(f"* gradcheck: {len(g0)} leaves, zero-gradient leaves: {zero if zero else 'none'}")
print(f"* noise floor (mse of truth) = {noise_sd**2:.5f}")
print("*  iter        mse          a        b      tau    elapsed")

t0 = time.perf_counter()
for it in range(1, 301):
    loss, grads = loss_and_grad(params)
    opt.update(params, grads)
    mx.eval(params, opt.state, loss)
    if it in (1, 10, 25) or it % 30 == 0:
        a, b, tau = unpack(params)
        print(f"*  {it:4d}  {loss.item():10.6f}   {a.item():6.3f}   {b.item():6.3f}   {tau.item():6.2f}"
              f"   {time.perf_counter() - t0:6.1f}s")

a, b, tau = unpack(params)
final = loss_fn(params).item()
print(f".param a={a.item():.4f} b={b.item():.4f} tau={tau.item():.3f}")
print(f"* true   a={TRUE['a']:.4f} b={TRUE['b']:.4f} tau={TRUE['tau']:.3f}")
print(f"* final mse={final:.6f} (start {l0.item():.6f}, floor ~{noise_sd**2:.5f})")
print(".end")
