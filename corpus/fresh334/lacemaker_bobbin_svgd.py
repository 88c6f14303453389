"""Bobbin-lace workshop: will a pillow of lace pass inspection?

Bayesian logistic regression over 9 synthetic workshop readings (thread tension,
pin spacing, humidity, ...), posterior approximated by 64 Stein variational
gradient descent particles. There is no loss being minimised: each step moves
the particle cloud along the kernelised Stein direction (fed to Adagrad as a
negated gradient). Progress is reported every 400 steps only; the run saves a
checkpoint at step 1200, throws the live state away and resumes from disk.
"""
import os
import tempfile
import time

import mlx.core as mx
import mlx.optimizers as optim
import numpy as np

D = 9
P = 64
PRIOR_VAR = 4.0


def make_data(rng, n):
    x = rng.normal(size=(n, D)).astype(np.float32)
    w_true = np.array([1.6, -1.1, 0.0, 0.8, 0.0, -0.6, 0.0, 0.35, 0.0], np.float32)
    logits = x @ w_true + 0.4
    y = (rng.uniform(size=n) < 1.0 / (1.0 + np.exp(-logits))).astype(np.float32)
    return np.concatenate([x, np.ones((n, 1), np.float32)], 1), y


def log_post(theta, xb, yb, n_total):
    logits = theta @ xb.T
    ll = -mx.logaddexp(0.0, -logits) * yb - mx.logaddexp(0.0, logits) * (1 - yb)
    ll = mx.sum(ll, axis=1) * (n_total / xb.shape[0])
    lp = -0.5 * mx.sum(theta * theta, axis=1) / PRIOR_VAR
    return mx.sum(ll + lp)


score_fn = mx.grad(log_post)


def svgd_direction(theta, xb, yb, n_total):
    score = score_fn(theta, xb, yb, n_total)
    diff = theta[:, None, :] - theta[None, :, :]
    sq = mx.sum(diff * diff, axis=-1)
    med = mx.sort(sq.reshape(-1))[sq.size // 2]
    h = mx.maximum(med / np.log(P + 1.0), 1e-6)
    k = mx.exp(-sq / h)
    drive = k @ score
    repulse = mx.sum(k[:, :, None] * diff, axis=1) * (2.0 / h)
    return (drive + repulse) / P, h


def evaluate(theta, x, y):
    probs = mx.sigmoid(theta @ x.T)
    pm = mx.mean(probs, axis=0)
    nll = -mx.mean(y * mx.log(pm + 1e-7) + (1 - y) * mx.log(1 - pm + 1e-7))
    acc = mx.mean(((pm > 0.5).astype(mx.float32) == y).astype(mx.float32))
    return float(nll), float(acc)


def run(theta, opt, xtr, ytr, xte, yte, start, stop, rng, t0):
    n = xtr.shape[0]
    for step in range(start, stop + 1):
        idx = mx.array(rng.integers(0, n, size=200))
        phi, h = svgd_direction(theta, xtr[idx], ytr[idx], n)
        out = opt.apply_gradients({"theta": -phi}, {"theta": theta})
        theta = out["theta"]
        mx.eval(theta, opt.state)
        if step % 400 == 0:
            nll, acc = evaluate(theta, xte, yte)
            spread = float(mx.mean(mx.std(theta, axis=0)))
            print(f"[svgd] step {step:4d}  test_nll {nll:.4f}  test_acc {acc:.3f}  "
                  f"particle_sd {spread:.3f}  bandwidth {float(h):.4f}  "
                  f"t={time.perf_counter() - t0:.1f}s")
    return theta


def main():
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    xtr, ytr = make_data(rng, 2000)
    xte, yte = make_data(rng, 2000)
    xtr, ytr, xte, yte = map(mx.array, (xtr, ytr, xte, yte))

    base_p = float(mx.mean(ytr))
    base_nll = -(base_p * np.log(base_p) + (1 - base_p) * np.log(1 - base_p))
    print(f"reference: constant-rate predictor test_nll {base_nll:.4f}, "
          f"majority acc {max(base_p, 1 - base_p):.3f}")

    theta = mx.random.normal((P, D + 1)) * 0.5
    opt = optim.Adagrad(learning_rate=0.05)
    opt.init({"theta": theta})
    t0 = time.perf_counter()
    nll, acc = evaluate(theta, xte, yte)
    print(f"[svgd] step    0  test_nll {nll:.4f}  test_acc {acc:.3f}")

    theta = run(theta, opt, xtr, ytr, xte, yte, 1, 1200, rng, t0)

    ckpt = os.path.join(tempfile.mkdtemp(), "lace_particles.npz")
    mx.savez(ckpt, theta=theta, sum_sq=opt.state["theta"]["v"], step=mx.array(1200))
    print(f"checkpoint written at step 1200 -> {os.path.basename(ckpt)}")
    del theta, opt

    saved = mx.load(ckpt)
    theta = saved["theta"]
    opt = optim.Adagrad(learning_rate=0.05)
    opt.init({"theta": theta})
    opt.state["theta"]["v"] = saved["sum_sq"]
    start = int(saved["step"].item()) + 1
    print(f"resumed from checkpoint, continuing at step {start}")

    theta = run(theta, opt, xtr, ytr, xte, yte, start, 2400, rng, t0)

    mean_w = np.array(mx.mean(theta, axis=0))
    sd_w = np.array(mx.std(theta, axis=0))
    for i, (m, s) in enumerate(zip(mean_w, sd_w)):
        name = f"w{i}" if i < D else "bias"
        print(f"  {name:>4s}: {m:+.3f} +/- {s:.3f}")
    nll, acc = evaluate(theta, xte, yte)
    print(f"final test_nll {nll:.4f} (reference {base_nll:.4f}), test_acc {acc:.3f}")


if __name__ == "__main__":
    main()
