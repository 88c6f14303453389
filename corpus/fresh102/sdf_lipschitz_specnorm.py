"""Signed distance to a 2-D 'bean' shape (union of two discs minus a notch),
learned by a 1-Lipschitz network: every Linear is spectrally normalised
(W / sigma(W), sigma from one power-iteration step per update, Miyato et al.).
The power-iteration vectors live in a plain dict next to the model, not in it;
sigma is computed with stop_gradient(u), stop_gradient(v) so the gradient flows
only through W. MaxMin activations keep the gradient norm. JSON lines every 150 steps.
"""
import json
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten


def bean_sdf(p):
    d1 = np.linalg.norm(p - np.array([-0.35, 0.0]), axis=1) - 0.45
    d2 = np.linalg.norm(p - np.array([0.35, 0.05]), axis=1) - 0.40
    d_union = np.minimum(d1, d2)
    notch = np.linalg.norm(p - np.array([0.0, 0.55]), axis=1) - 0.25
    return np.maximum(d_union, -notch)  # subtract the notch (still 1-Lipschitz)


class SNMLP(nn.Module):
    def __init__(self, dims):
        super().__init__()
        self.layers = [nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:])]

    def __call__(self, x, sigmas):
        for i, (layer, s) in enumerate(zip(self.layers, sigmas)):
            x = x @ (layer.weight / s).T + layer.bias
            if i < len(self.layers) - 1:
                a, b = mx.split(x, 2, axis=-1)  # MaxMin (GroupSort-2): gradient-norm preserving
                x = mx.concatenate([mx.maximum(a, b), mx.minimum(a, b)], axis=-1)
        return x.squeeze(-1)


def power_step(model, pstate):
    """One power-iteration step per layer; returns updated (u, v) dict."""
    out = {}
    for i, layer in enumerate(model.layers):
        W = mx.stop_gradient(layer.weight)
        u = pstate[i]["u"]
        v = W.T @ u
        v = v / (mx.linalg.norm(v) + 1e-12)
        u = W @ v
        u = u / (mx.linalg.norm(u) + 1e-12)
        out[i] = {"u": u, "v": v}
    return out


def sigmas_of(model, pstate):
    return [mx.sum(mx.stop_gradient(pstate[i]["u"]) * (layer.weight @ mx.stop_gradient(pstate[i]["v"])))
            for i, layer in enumerate(model.layers)]


def loss_fn(model, pstate, x, d):
    pred = model(x, sigmas_of(model, pstate))
    return mx.mean(mx.abs(pred - d))


def main():
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    pts = rng.uniform(-1.2, 1.2, size=(20000, 2)).astype(np.float32)
    dist = bean_sdf(pts).astype(np.float32)
    val_pts = rng.uniform(-1.2, 1.2, size=(4000, 2)).astype(np.float32)
    val_d = bean_sdf(val_pts).astype(np.float32)
    X, D = mx.array(pts), mx.array(dist)
    VX, VD = mx.array(val_pts), mx.array(val_d)

    model = SNMLP([2, 64, 64, 64, 1])
    pstate = {i: {"u": mx.random.normal((l.weight.shape[0],)), "v": None} for i, l in enumerate(model.layers)}
    for _ in range(20):  # warm the power iteration before training
        pstate = power_step(model, pstate)
    mx.eval(pstate)

    lr = optim.step_decay(3e-3, 0.5, 700)
    opt = optim.Adam(learning_rate=lr)
    lg = nn.value_and_grad(model, loss_fn)

    _, g0 = lg(model, pstate, X[:256], D[:256])
    zero = [k for k, g in tree_flatten(g0) if mx.max(mx.abs(g)).item() == 0.0]
    print(json.dumps({"event": "grad_check", "leaves": len(tree_flatten(g0)), "zero_grad": zero}))

    def report(step, window):
        sig = sigmas_of(model, pstate)
        vpred = model(VX, sig)
        mae = mx.mean(mx.abs(vpred - VD)).item()
        sign_ok = mx.mean((vpred > 0) == (VD > 0)).item()
        # per-layer true spectral norm of W/sigma (numpy SVD), product bounds the Lipschitz constant
        lip = 1.0
        for layer, s in zip(model.layers, sig):
            lip *= float(np.linalg.svd(np.array(layer.weight / s), compute_uv=False)[0])
        rec = {"step": step, "lr": round(float(opt.learning_rate.item()), 6),
               "train_l1": None if window is None else round(window, 5),
               "val_l1": round(mae, 5), "sign_acc_pct": round(100 * sign_ok, 2),
               "lip_bound": round(lip, 4)}
        print(json.dumps(rec), flush=True)

    report(0, None)
    bs, steps = 256, 2100
    t0 = time.perf_counter()
    win = []
    for step in range(1, steps + 1):
        idx = mx.array(rng.integers(0, len(dist), size=bs))
        loss, grads = lg(model, pstate, X[idx], D[idx])
        opt.update(model, grads)
        pstate = power_step(model, pstate)
        mx.eval(loss, model.parameters(), opt.state, pstate)
        win.append(loss.item())
        if step % 150 == 0:
            report(step, float(np.mean(win)))
            win = []
    print(json.dumps({"event": "done", "secs": round(time.perf_counter() - t0, 1)}))


if __name__ == "__main__":
    main()
