"""Friction identification on a spring-loaded sled dragged by a shaker.

A 1 kg sled on a spring (k = 4 N/m) is pushed by a sinusoidal shaker force.
Friction follows a Stribeck curve  F_f(v) = sign(v) * (Fc + (Fs - Fc) exp(-(v/vs)^2)) + b v.
The four friction constants are fitted by back-propagating through an unrolled
semi-implicit Euler simulation of all test runs at once.  sign(v) is wrapped in
an mx.custom_function whose backward pass uses a tanh surrogate slope.

Stage 1 fits only Fc and b (Fs and vs frozen at a first guess), the run is
checkpointed to disk, a fresh model is restored from it, and stage 2 fits all
four constants.  Output is a gnuplot-friendly table ('#' lines are comments).
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

MASS, K_SPRING, DT, N_STEPS = 1.0, 4.0, 0.04, 100
TRUE = {"Fc": 0.30, "Fs": 0.50, "vs": 0.10, "b": 0.20}
NOISE_M = 0.004
SURROGATE_WIDTH = 0.05


@mx.custom_function
def sign_surrogate(v):
    return mx.sign(v)


@sign_surrogate.vjp
def sign_surrogate_vjp(primals, cotangent, output):
    v = primals[0]
    t = mx.tanh(v / SURROGATE_WIDTH)
    return (cotangent * (1.0 - t * t) / SURROGATE_WIDTH,)


def inv_softplus(y):
    return float(np.log(np.expm1(y)))


class StribeckFriction(nn.Module):
    def __init__(self, Fc=0.1, Fs=0.15, vs=0.3, b=0.05):
        super().__init__()
        self.raw_Fc = mx.array(inv_softplus(Fc))
        self.raw_Fs = mx.array(inv_softplus(Fs))
        self.raw_vs = mx.array(inv_softplus(vs))
        self.raw_b = mx.array(inv_softplus(b))

    def constants(self):
        return {
            "Fc": nn.softplus(self.raw_Fc),
            "Fs": nn.softplus(self.raw_Fs),
            "vs": nn.softplus(self.raw_vs),
            "b": nn.softplus(self.raw_b),
        }

    def step_constants(self):
        c = self.constants()
        c["inv_vs"] = 1.0 / c["vs"]
        return c

    def __call__(self, v, c=None):
        c = self.step_constants() if c is None else c
        mag = c["Fc"] + (c["Fs"] - c["Fc"]) * mx.exp(-mx.square(v * c["inv_vs"]))
        return sign_surrogate(v) * mag + c["b"] * v


def simulate(friction, amp, omega):
    """Positions (runs, N_STEPS) for drive force amp*sin(omega t)."""
    c = friction.step_constants()
    t = mx.arange(N_STEPS) * DT
    drive = (amp[:, None] * mx.sin(omega[:, None] * t[None, :])).T
    x = mx.zeros(amp.shape)
    v = mx.zeros(amp.shape)
    xs = []
    for i in range(N_STEPS):
        force = drive[i] - K_SPRING * x - friction(v, c)
        v = v + (DT / MASS) * force
        x = x + DT * v
        xs.append(x)
    return mx.stack(xs, axis=1)


def make_runs(rng):
    amps = np.array([0.4, 0.7, 1.0, 1.4, 1.8, 2.4, 0.6, 1.2, 2.0], dtype=np.float32)
    omegas = np.array([1.0, 1.0, 1.0, 1.5, 1.5, 1.5, 3.0, 3.0, 3.0], dtype=np.float32)
    truth = StribeckFriction(**TRUE)
    clean = simulate(truth, mx.array(amps), mx.array(omegas))
    meas = np.array(clean) + NOISE_M * rng.normal(size=clean.shape)
    return mx.array(amps), mx.array(omegas), mx.array(meas.astype(np.float32)), clean


def loss_fn(model, amp, omega, meas):
    return mx.mean(mx.square(simulate(model, amp, omega) - meas))


def schedule(peak, warm):
    return optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, 150, peak * 0.05)],
        [warm],
    )


def run_stage(tag, model, opt, data, n_iter, report_every, t0, it0):
    amp, omega, meas = data
    vg = nn.value_and_grad(model, loss_fn)
    for it in range(1, n_iter + 1):
        lr_used = float(opt.learning_rate.item())
        loss, grads = vg(model, amp, omega, meas)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if it == 1 or it % report_every == 0:
            c = {k: v.item() for k, v in model.constants().items()}
            print(
                f"{tag:>6s} {it0 + it:5d} {lr_used:9.5f} {loss.item():11.3e} "
                f"{c['Fc']:7.4f} {c['Fs']:7.4f} {c['vs']:7.4f} {c['b']:7.4f} {time.time() - t0:7.1f}"
            )
    return it0 + n_iter


def main():
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    amp, omega, meas, clean = make_runs(rng)
    floor = mx.mean(mx.square(meas - clean)).item()
    print(f"# runs={amp.shape[0]} steps/run={N_STEPS} dt={DT}s  noise floor (mse vs clean) = {floor:.3e} m^2")
    print(f"# truth  Fc={TRUE['Fc']:.3f} Fs={TRUE['Fs']:.3f} vs={TRUE['vs']:.3f} b={TRUE['b']:.3f}")
    print("# stage  iter        lr    pos_mse      Fc      Fs      vs       b    secs")

    data = (amp, omega, meas)
    t0 = time.time()

    model = StribeckFriction()
    model.freeze(keys=["raw_Fs", "raw_vs"])
    opt = optim.Adam(learning_rate=schedule(0.05, 20))
    it = run_stage("coul", model, opt, data, 40, 5, t0, 0)

    ckpt_dir = tempfile.mkdtemp()
    path = os.path.join(ckpt_dir, "stage1.safetensors")
    model.save_weights(path)
    before = loss_fn(model, amp, omega, meas).item()

    restored = StribeckFriction(Fc=1.0, Fs=1.0, vs=1.0, b=1.0)
    restored.load_weights(path)
    after = loss_fn(restored, amp, omega, meas).item()
    print(f"# checkpoint {os.path.basename(path)}: pos_mse before save {before:.3e}, after load {after:.3e}")

    opt2 = optim.Adam(learning_rate=schedule(0.03, 30))
    run_stage("stri", restored, opt2, data, 130, 10, t0, it)

    c = {k: v.item() for k, v in restored.constants().items()}
    final = loss_fn(restored, amp, omega, meas).item()
    print(f"# final pos_mse {final:.3e}  (floor {floor:.3e}, ratio {final / floor:.2f})")
    for k in ("Fc", "Fs", "vs", "b"):
        print(f"# {k:>2s}  fitted {c[k]:.4f}  true {TRUE[k]:.4f}  rel.err {abs(c[k] - TRUE[k]) / TRUE[k] * 100:5.1f}%")


if __name__ == "__main__":
    main()
