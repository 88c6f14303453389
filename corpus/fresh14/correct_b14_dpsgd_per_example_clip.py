"""DP-SGD: per-example gradients via mx.vmap over a pure loss on a parameter
dict, each clipped to norm C, summed, Gaussian noise added, then averaged.
The injected noise keeps the minibatch loss jittery and the descent slow."""
import numpy as np
import mlx.core as mx

rng = np.random.default_rng(11)
mx.random.seed(11)

D, N = 20, 4000
w_star = rng.normal(size=(D,)).astype(np.float32)
X = rng.normal(size=(N, D)).astype(np.float32)
y = (X @ w_star + 0.5 * rng.normal(size=N) > 0).astype(np.float32)
Xtr, ytr, Xte, yte = X[:3200], y[:3200], X[3200:], y[3200:]

params = {"w1": mx.random.normal((D, 16)) * 0.2, "b1": mx.zeros((16,)),
          "w2": mx.random.normal((16,)) * 0.2, "b2": mx.array(0.0)}


def forward(p, x):
    h = mx.tanh(x @ p["w1"] + p["b1"])
    return h @ p["w2"] + p["b2"]


def example_loss(p, x, t):
    z = forward(p, x[None])[0]
    return mx.logaddexp(0.0, z) - t * z


per_example_grads = mx.vmap(mx.grad(example_loss), in_axes=(None, 0, 0))

CLIP, SIGMA, LR, BATCH, EPOCHS = 1.0, 1.1, 0.5, 64, 6


def dp_step(p, xb, tb):
    g = per_example_grads(p, xb, tb)  # dict of (B, ...) arrays
    sq = sum(mx.sum(v.reshape(v.shape[0], -1) ** 2, axis=1) for v in g.values())
    factor = mx.minimum(1.0, CLIP / (mx.sqrt(sq) + 1e-6))
    new = {}
    for k, v in g.items():
        clipped = v * factor.reshape((-1,) + (1,) * (v.ndim - 1))
        noisy = clipped.sum(axis=0) + SIGMA * CLIP * mx.random.normal(v.shape[1:])
        new[k] = p[k] - LR * noisy / xb.shape[0]
    return new


def metrics(p, x, t):
    z = forward(p, mx.array(x))
    loss = mx.mean(mx.logaddexp(0.0, z) - mx.array(t) * z)
    acc = mx.mean((z > 0) == (mx.array(t) > 0.5))
    return loss.item(), acc.item()


steps = 0
for ep in range(1, EPOCHS + 1):
    perm = rng.permutation(len(ytr))
    for s in range(0, len(ytr) - BATCH + 1, BATCH):
        ids = perm[s : s + BATCH]
        params = dp_step(params, mx.array(Xtr[ids]), mx.array(ytr[ids]))
        mx.eval(params)
        steps += 1
        if steps % 25 == 0:
            bl, _ = metrics(params, Xtr[ids], ytr[ids])
            print(f"  step {steps:4d}  batch_bce={bl:.4f}")
    tl, ta = metrics(params, Xtr, ytr)
    vl, va = metrics(params, Xte, yte)
    print(f"epoch {ep}/{EPOCHS}  train_bce={tl:.4f}  test_bce={vl:.4f}  test_acc={va:.3f}  (sigma={SIGMA}, C={CLIP})")
