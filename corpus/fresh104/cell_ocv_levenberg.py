"""Fit a Li-ion cell's open-circuit-voltage curve (OCV vs state of charge) with a
small tanh network, trained by Levenberg-Marquardt instead of a first-order optimizer.

The bench data is synthetic: a made-up OCV law (log terms at both ends plus two
staging bumps) measured at 960 SoC points with 3 mV of sensor noise; every 4th point
is held out.  The network parameters live in ONE flat vector; the Jacobian of the
residuals comes from mx.vmap(mx.grad(...)); each LM step solves the damped normal
equations with mx.linalg.solve on the CPU stream.  A trial step that does not lower
the cost is rejected (the parameters are left exactly as they were) and the damping
grows; an accepted step shrinks it.
"""
import math
import time

import numpy as np
import mlx.core as mx

RNG = np.random.default_rng(11)
SIZES = [1, 16, 16, 1]          # tanh MLP 1-16-16-1
NOISE_MV = 3.0


def true_ocv(soc):
    # made-up cell law, volts
    s = np.clip(soc, 1e-3, 1 - 1e-3)
    return (3.62 + 0.55 * s + 0.05 * np.log(s) - 0.035 * np.log(1 - s)
            + 0.025 * np.exp(-((s - 0.30) / 0.05) ** 2)
            - 0.018 * np.exp(-((s - 0.62) / 0.07) ** 2))


def make_data():
    soc = np.sort(RNG.uniform(0.02, 0.98, 960)).astype(np.float32)
    v = true_ocv(soc) + RNG.normal(0, NOISE_MV / 1000, soc.shape)
    idx = np.arange(soc.size)
    hold = idx % 4 == 3
    return soc[~hold], v[~hold].astype(np.float32), soc[hold], v[hold].astype(np.float32)


class FlatMLP:
    """Holds the layer shapes and maps a flat parameter vector to a forward pass."""

    def __init__(self, sizes):
        self.shapes = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            self.shapes.append(((b, a), (b,)))
        self.n = sum(w[0] * w[1] + bb[0] for w, bb in self.shapes)

    def init(self, seed):
        key = mx.random.key(seed)
        parts = []
        for (w, b) in self.shapes:
            key, k = mx.random.split(key)
            scale = 1.0 / math.sqrt(w[1])
            parts.append(mx.random.uniform(-scale, scale, w, key=k).reshape(-1))
            parts.append(mx.zeros(b))
        return mx.concatenate(parts)

    def blocks(self, theta):
        out, i = [], 0
        for (w, b) in self.shapes:
            nw = w[0] * w[1]
            out.append((theta[i:i + nw].reshape(w), theta[i + nw:i + nw + b[0]]))
            i += nw + b[0]
        return out

    def __call__(self, theta, x):
        # x: (N,) state of charge in [0, 1] -> centred input
        h = (x[:, None] - 0.5) * 2.0
        layers = self.blocks(theta)
        for j, (w, b) in enumerate(layers):
            h = h @ w.T + b
            if j < len(layers) - 1:
                h = mx.tanh(h)
        return h[:, 0]


def main():
    t0 = time.time()
    xtr, ytr, xva, yva = make_data()
    net = FlatMLP(SIZES)
    v_mean = float(ytr.mean())
    v_scale = 0.25               # volts per output unit
    X, Y = mx.array(xtr), mx.array((ytr - v_mean) / v_scale)
    Xv = mx.array(xva)

    def one_residual(theta, x, y):
        return net(theta, x[None])[0] - y

    def cost(theta):
        r = net(theta, X) - Y
        return 0.5 * mx.sum(r * r)

    jac_fn = mx.vmap(mx.grad(one_residual), in_axes=(None, 0, 0))

    def val_rmse_mv(theta):
        pred = np.array(net(theta, Xv)) * v_scale + v_mean
        return float(np.sqrt(np.mean((pred - yva) ** 2)) * 1000)

    theta = net.init(seed=5)
    mx.eval(theta)

    print(f"cell OCV fit | {X.shape[0]} train / {Xv.shape[0]} held-out points | "
          f"{net.n} parameters in one flat vector | sensor noise {NOISE_MV:.1f} mV")
    print(f"constant-voltage baseline rmse : {np.std(yva) * 1000:8.2f} mV")
    print(f"untrained network rmse         : {val_rmse_mv(theta):8.2f} mV")

    # first-step gradient check, per layer block
    g = mx.grad(cost)(theta)
    names = []
    for j, (w, b) in enumerate(net.blocks(g)):
        names += [(f"l{j}.weight", w), (f"l{j}.bias", b)]
    zero = [n for n, a in names if float(mx.abs(a).max()) == 0.0]
    print(f"gradient check: {len(names)} blocks, zero blocks: {zero if zero else 'none'}")

    lam, lam_up, lam_down = 1e-2, 4.0, 0.3
    c = float(cost(theta))
    hdr = f"{'iter':>4} {'cost':>11} {'lambda':>9} {'|step|':>9} {'gain':>7} {'accepted':>8} {'val mV':>8}"
    print(hdr)
    print("-" * len(hdr))
    accepted = rejected = 0
    eye = mx.eye(net.n)
    for it in range(1, 151):
        J = jac_fn(theta, X, Y)                      # (N, P)
        r = net(theta, X) - Y
        JtJ = J.T @ J
        Jtr = J.T @ r
        # Marquardt scaling: damp with the diagonal of J^T J (floored)
        D = mx.maximum(mx.diag(JtJ), 1e-6)
        while True:
            A = JtJ + lam * (mx.diag(D) + 1e-8 * eye)
            step = -mx.linalg.solve(A, Jtr, stream=mx.cpu)
            trial = theta + step
            c_new = float(cost(trial))
            pred_red = float(-(step @ Jtr) - 0.5 * (step @ (JtJ @ step)))
            gain = (c - c_new) / max(pred_red, 1e-12)
            if c_new < c:
                theta, c = trial, c_new
                mx.eval(theta)
                lam = max(lam * lam_down, 1e-9)
                accepted += 1
                ok = "yes"
                break
            rejected += 1
            lam *= lam_up
            ok = "no"
            if lam > 1e8:
                break
        if it in (1, 2, 3, 5, 8) or it % 15 == 0:
            print(f"{it:>4} {c:>11.5f} {lam:>9.2e} {float(mx.linalg.norm(step)):>9.3e} "
                  f"{gain:>7.2f} {ok:>8} {val_rmse_mv(theta):>8.2f}")
        if lam > 1e8:
            print("damping exhausted, stopping")
            break

    tr_rmse = math.sqrt(2 * c / X.shape[0]) * v_scale * 1000
    print("-" * len(hdr))
    print(f"done: {accepted} accepted / {rejected} rejected trial steps | "
          f"train rmse {tr_rmse:.2f} mV | held-out rmse {val_rmse_mv(theta):.2f} mV "
          f"(noise floor {NOISE_MV:.1f} mV) | {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
