"""Ferry terminal: boarding-delay band (on time / short / long / missed sailing)
from 9 dispatcher features, trained over three "shifts" with a Yogi optimizer
written out by hand (state kept as plain dicts of arrays).

Shift 1 and 2 run in one process; after shift 2 the run is written to a
temporary folder and shift 3 continues from a freshly built model and a
reloaded optimizer state. Nothing is printed inside a shift.
"""

import json
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map, tree_unflatten

BANDS = ["on_time", "short", "long", "missed"]


def make_sailings(n, rng):
    cars = rng.poisson(120, n)
    trucks = rng.poisson(14, n)
    wind = rng.gamma(2.0, 6.0, n)
    tide = rng.uniform(-1, 1, n)
    crew = rng.integers(5, 10, n)
    late_arrival = rng.exponential(6.0, n)
    ramp_fault = (rng.random(n) < 0.06).astype(np.float64)
    hour = rng.integers(5, 23, n)
    peak = ((hour >= 7) & (hour <= 9) | (hour >= 16) & (hour <= 18)).astype(np.float64)
    score = (
        0.012 * (cars - 120)
        + 0.09 * (trucks - 14)
        + 0.045 * np.maximum(wind - 15, 0)
        + 0.4 * np.abs(tide)
        - 0.25 * (crew - 7)
        + 0.11 * late_arrival
        + 2.2 * ramp_fault
        + 0.5 * peak
    )
    clean = np.digitize(score, [0.4, 1.4, 2.6])
    y = np.digitize(score + rng.logistic(0, 0.45, n), [0.4, 1.4, 2.6])
    flip = rng.random(n) < 0.12
    y[flip] = rng.integers(0, 4, flip.sum())
    x = np.stack(
        [
            (cars - 120) / 11,
            (trucks - 14) / 3.7,
            (wind - 12) / 8.5,
            tide,
            (crew - 7) / 1.4,
            (late_arrival - 6) / 6,
            ramp_fault,
            np.sin(2 * np.pi * hour / 24),
            np.cos(2 * np.pi * hour / 24),
        ],
        axis=1,
    )
    return x.astype(np.float32), y.astype(np.int32), clean


class DelayNet(nn.Module):
    def __init__(self, d_in, n_out):
        super().__init__()
        self.hidden = [nn.Linear(d_in, 64), nn.Linear(64, 64)]
        self.norm = nn.LayerNorm(64)
        self.head = nn.Linear(64, n_out)

    def __call__(self, x):
        h = nn.gelu(self.hidden[0](x))
        h = self.norm(nn.gelu(self.hidden[1](h)) + h)
        return self.head(h)


def yogi_init(params):
    return {
        "t": 0,
        "m": tree_map(mx.zeros_like, params),
        "v": tree_map(lambda p: mx.full(p.shape, 1e-6, p.dtype), params),
    }


def yogi_step(params, grads, state, lr, b1=0.9, b2=0.999, eps=1e-3):
    t = state["t"] + 1
    m = tree_map(lambda m_, g: b1 * m_ + (1 - b1) * g, state["m"], grads)
    v = tree_map(
        lambda v_, g: v_ - (1 - b2) * mx.sign(v_ - g * g) * (g * g), state["v"], grads
    )
    c1 = 1 - b1**t
    c2 = 1 - b2**t
    new_params = tree_map(
        lambda p, m_, v_: p - lr * (m_ / c1) / (mx.sqrt(v_ / c2) + eps), params, m, v
    )
    return new_params, {"t": t, "m": m, "v": v}


def smoothed_ce(logits, y, eps=0.1):
    return mx.mean(nn.losses.cross_entropy(logits, y, label_smoothing=eps))


def accuracy(model, X, Y):
    return float(mx.mean(mx.argmax(model(X), axis=-1) == Y).item())


def run_shift(model, state, X, Y, steps, lr, rng, batch=256):
    loss_and_grad = nn.value_and_grad(model, lambda m, xb, yb: smoothed_ce(m(xb), yb))
    n = X.shape[0]
    losses = []
    grad_leaves = None
    for _ in range(steps):
        idx = mx.array(rng.integers(0, n, batch))
        loss, grads = loss_and_grad(model, X[idx], Y[idx])
        if grad_leaves is None:
            grad_leaves = len(tree_flatten(grads))
        new_params, state = yogi_step(model.trainable_parameters(), grads, state, lr)
        model.update(new_params)
        mx.eval(model.parameters(), state["m"], state["v"], loss)
        losses.append(loss)
    return state, [float(l.item()) for l in losses], grad_leaves


def save_run(folder, model, state, shift):
    model.save_weights(os.path.join(folder, "delaynet.safetensors"))
    flat = dict(tree_flatten({"m": state["m"], "v": state["v"]}))
    mx.savez(os.path.join(folder, "yogi.npz"), **flat)
    with open(os.path.join(folder, "meta.json"), "w") as f:
        json.dump({"t": state["t"], "shift": shift}, f)


def load_run(folder, model):
    model.load_weights(os.path.join(folder, "delaynet.safetensors"))
    flat = mx.load(os.path.join(folder, "yogi.npz"))
    tree = tree_unflatten(list(flat.items()))
    with open(os.path.join(folder, "meta.json")) as f:
        meta = json.load(f)
    return {"t": meta["t"], "m": tree["m"], "v": tree["v"]}, meta["shift"]


def main():
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    x_tr, y_tr, _ = make_sailings(12000, rng)
    x_te, y_te, clean_te = make_sailings(3000, rng)
    X_tr, Y_tr = mx.array(x_tr), mx.array(y_tr)
    X_te, Y_te = mx.array(x_te), mx.array(y_te)

    counts = np.bincount(y_tr, minlength=4)
    majority = counts.max() / counts.sum()
    floor = -(0.925 * np.log(0.925) + 3 * 0.025 * np.log(0.025))
    print("ferry boarding-delay bands, 4 classes, label smoothing 0.1")
    print("class shares  " + "  ".join(f"{b}={c / counts.sum():.2f}" for b, c in zip(BANDS, counts)))
    print(f"majority-band accuracy on test: {np.mean(y_te == counts.argmax()) * 100:.1f}%")
    print(f"noise-free band rule on test:   {np.mean(y_te == clean_te) * 100:.1f}%  (best reachable, about)")
    print(f"smoothed-CE floor for a perfect, fully confident model: {floor:.3f} nats")
    print()

    model = DelayNet(x_tr.shape[1], 4)
    mx.eval(model.parameters())
    state = yogi_init(model.trainable_parameters())
    print(f"{'shift':>5} {'steps':>6} {'lr':>8} {'first':>7} {'last100':>8} {'test_ce':>8} {'test_acc':>9} {'secs':>6}")

    plan = [(1, 450, 3e-3), (2, 450, 1e-3), (3, 450, 3e-4)]
    total_steps = 0
    folder = tempfile.mkdtemp()
    try:
        for shift, steps, lr in plan:
            if shift == 3:
                save_run(folder, model, state, shift - 1)
                before = model(X_te[:8])
                del model, state
                model = DelayNet(x_tr.shape[1], 4)
                state, last_shift = load_run(folder, model)
                after = model(X_te[:8])
                gap = float(mx.max(mx.abs(before - after)).item())
                print(f"--- reloaded after shift {last_shift}: step t={state['t']}, max logit gap {gap:.1e}")
            t0 = time.perf_counter()
            state, losses, leaves = run_shift(model, state, X_tr, Y_tr, steps, lr, rng)
            total_steps += steps
            test_ce = smoothed_ce(model(X_te), Y_te).item()
            acc = accuracy(model, X_te, Y_te)
            print(
                f"{shift:>5} {total_steps:>6} {lr:>8.0e} {losses[0]:>7.3f} {np.mean(losses[-100:]):>8.3f}"
                f" {test_ce:>8.3f} {acc * 100:>8.1f}% {time.perf_counter() - t0:>6.1f}"
            )
            if shift == 1:
                print(f"      (gradient arrays per step: {leaves})")
    finally:
        for name in os.listdir(folder):
            os.remove(os.path.join(folder, name))
        os.rmdir(folder)

    pred = np.array(mx.argmax(model(X_te), axis=-1))
    recall = [np.mean(pred[y_te == k] == k) for k in range(4)]
    print()
    print("per-band recall  " + "  ".join(f"{b}={r * 100:.0f}%" for b, r in zip(BANDS, recall)))
    print(f"optimizer steps taken: {state['t']}")


if __name__ == "__main__":
    main()
