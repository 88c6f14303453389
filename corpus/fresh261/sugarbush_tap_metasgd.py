"""Sugarbush sap runs: Meta-SGD few-shot regression of each tap's daily sap-flow curve.

Every maple tap is a task: on a freeze-thaw spring day its flow (L/h) follows a
made-up thaw bump (own peak hour, run width, strength and base seepage). From 6
support readings the model adapts with ONE inner step whose per-parameter step
sizes (alpha) are meta-learned together with the initial weights (Li et al. 2017),
second order through mx.grad. The outer Adam learning rate warms up from exactly 0.
Halfway through, the run is checkpointed to disk and resumed into fresh objects.
"""

import os
import tempfile
import time

import mlx.core as mx
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

SEED = 11
META_STEPS = 1200
META_BATCH = 8
K_SUPPORT = 6
N_QUERY = 24
HIDDEN = 40
PEAK_LR = 2e-3
WARMUP = 60
CKPT_AT = 600

rng = np.random.default_rng(SEED)
mx.random.seed(SEED)


def sample_taps(n):
    peak = rng.uniform(10.0, 15.0, n)      # hour of fastest run
    width = rng.uniform(1.5, 3.5, n)       # hours
    strength = rng.uniform(0.5, 2.5, n)    # L/h at the peak
    seep = rng.uniform(-0.2, 0.3, n)       # base seepage
    return peak, width, strength, seep


def flow(hours, tap):
    peak, width, strength, seep = tap
    return strength * np.exp(-(((hours - peak) / width) ** 2)) + seep


def to_x(hours):
    return ((hours - 12.0) / 6.0).astype(np.float32)


def make_batch(n):
    taps = sample_taps(n)
    hs = rng.uniform(4.0, 20.0, (n, K_SUPPORT))
    hq = rng.uniform(4.0, 20.0, (n, N_QUERY))
    ys = np.stack([flow(hs[i], [t[i] for t in taps]) for i in range(n)])
    yq = np.stack([flow(hq[i], [t[i] for t in taps]) for i in range(n)])
    ys += 0.03 * rng.standard_normal(ys.shape)
    return (mx.array(to_x(hs))[..., None], mx.array(ys.astype(np.float32))[..., None],
            mx.array(to_x(hq))[..., None], mx.array(yq.astype(np.float32))[..., None])


def init_params():
    def lin(n_in, n_out):
        s = (2.0 / n_in) ** 0.5
        return mx.random.normal((n_in, n_out)) * s, mx.zeros((n_out,))
    p = {}
    for name, (a, b) in {"l1": (1, HIDDEN), "l2": (HIDDEN, HIDDEN), "l3": (HIDDEN, 1)}.items():
        w, bias = lin(a, b)
        p[name] = {"w": w, "b": bias}
    return p


def forward(p, x):
    h = mx.maximum(x @ p["l1"]["w"] + p["l1"]["b"], 0.0)
    h = mx.maximum(h @ p["l2"]["w"] + p["l2"]["b"], 0.0)
    return h @ p["l3"]["w"] + p["l3"]["b"]


def mse(p, x, y):
    return mx.mean((forward(p, x) - y) ** 2)


inner_grad = mx.grad(mse)


def adapt(p, alpha, xs, ys):
    g = inner_grad(p, xs, ys)
    return {k: {n: p[k][n] - alpha[k][n] * g[k][n] for n in p[k]} for k in p}


def meta_loss(state, xs, ys, xq, yq):
    total = 0.0
    for i in range(xs.shape[0]):
        fast = adapt(state["theta"], state["alpha"], xs[i], ys[i])
        total = total + mse(fast, xq[i], yq[i])
    return total / xs.shape[0]


meta_value_and_grad = mx.value_and_grad(meta_loss)


def evaluate(state, batch):
    xs, ys, xq, yq = batch
    pre = post = mean_base = 0.0
    n = xs.shape[0]
    for i in range(n):
        pre += mse(state["theta"], xq[i], yq[i]).item()
        fast = adapt(state["theta"], state["alpha"], xs[i], ys[i])
        post += mse(fast, xq[i], yq[i]).item()
        mean_base += mx.mean((yq[i] - mx.mean(ys[i])) ** 2).item()
    return pre / n, post / n, mean_base / n


def lr_at(step):
    return PEAK_LR * min(1.0, step / WARMUP)


def save_ckpt(path, state, opt, step):
    flat = dict(tree_flatten({"state": state, "opt": opt.state}))
    flat["step"] = mx.array(step)
    mx.savez(path, **flat)


def load_ckpt(path):
    flat = mx.load(path)
    step = int(flat.pop("step").item())
    tree = tree_unflatten(list(flat.items()))
    return tree["state"], tree["opt"], step


def main():
    val_batch = make_batch(64)
    theta = init_params()
    alpha = {k: {n: mx.full(v.shape, 0.02) for n, v in d.items()} for k, d in theta.items()}
    state = {"theta": theta, "alpha": alpha}
    mx.eval(state)

    random_init = {"theta": init_params(),
                   "alpha": {k: {n: mx.full(v.shape, 0.02) for n, v in d.items()}
                             for k, d in theta.items()}}
    _, rnd_post, mean_base = evaluate(random_init, val_batch)
    print(f"baselines on 64 held-out taps: predict support mean {mean_base:.4f}, "
          f"one step from a random init {rnd_post:.4f}")

    opt = optim.Adam(learning_rate=0.0)
    ckpt = os.path.join(tempfile.mkdtemp(), "sugarbush_metasgd.npz")
    t0 = time.perf_counter()
    step = 0
    resumed = False
    while step < META_STEPS:
        opt.learning_rate = lr_at(step)
        xs, ys, xq, yq = make_batch(META_BATCH)
        loss, grads = meta_value_and_grad(state, xs, ys, xq, yq)
        state = opt.apply_gradients(grads, state)
        mx.eval(state, opt.state, loss)
        step += 1

        if step % 100 == 0 or step == 1:
            pre, post, _ = evaluate(state, val_batch)
            a = np.concatenate([np.array(v).ravel() for _, v in tree_flatten(state["alpha"])])
            print(f"step {step:4d}  lr {lr_at(step - 1):.2e}  meta-batch query {loss.item():.4f}  "
                  f"held-out pre-adapt {pre:.4f}  post-adapt {post:.4f}  "
                  f"alpha mean {a.mean():+.4f} min {a.min():+.4f} max {a.max():+.4f}  "
                  f"[{time.perf_counter() - t0:.0f}s]")

        if step == CKPT_AT and not resumed:
            save_ckpt(ckpt, state, opt, step)
            del state, opt
            state, opt_state, step = load_ckpt(ckpt)
            opt = optim.Adam(learning_rate=lr_at(step))
            opt.state = opt_state
            resumed = True
            pre, post, _ = evaluate(state, val_batch)
            print(f"checkpoint written and reloaded at step {step} "
                  f"(post-adapt {post:.4f}, Adam step {int(opt.state['step'].item())})")

    pre, post, _ = evaluate(state, val_batch)
    print(f"final held-out taps: pre-adapt {pre:.4f}  post-adapt {post:.4f}  "
          f"vs support-mean {mean_base:.4f} and random-init one-step {rnd_post:.4f}")


if __name__ == "__main__":
    main()
