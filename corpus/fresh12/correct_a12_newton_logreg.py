# Logistic regression fitted with Newton's method (closed-form Hessian of the
# logistic loss), full batch. Converges in a handful of iterations, after which the
# weights legitimately stop moving; we keep iterating to a fixed budget anyway.
import mlx.core as mx
import numpy as np

rng = np.random.default_rng(7)
N, D = 2000, 6
Xn = rng.normal(size=(N, D)).astype(np.float32)
w_true = rng.normal(size=(D,)).astype(np.float32)
p = 1 / (1 + np.exp(-(Xn @ w_true)))
yn = (rng.random(N) < p).astype(np.float32)       # noisy labels: finite optimum
X = mx.concatenate([mx.array(Xn), mx.ones((N, 1))], axis=1)
y = mx.array(yn)
LAM = 1e-3


def nll(w):
    z = X @ w
    return mx.mean(mx.logaddexp(0.0, z) - y * z) + 0.5 * LAM * mx.sum(w * w)


grad_fn = mx.value_and_grad(nll)
w = mx.zeros((D + 1,))
print("iter | objective      | |grad|      | |step|")
for it in range(40):
    f, g = grad_fn(w)
    s = mx.sigmoid(X @ w)
    H = (X.T * (s * (1 - s))) @ X / N + LAM * mx.eye(D + 1)
    step = mx.linalg.solve(H, g, stream=mx.cpu)
    w = w - step
    mx.eval(w, f, g, step)
    print(f"{it:4d} | {f.item():.10f} | {mx.linalg.norm(g).item():.3e} | {mx.linalg.norm(step).item():.3e}")
acc = ((X @ w > 0).astype(mx.float32) == y).mean().item()
print(f"final objective {nll(w).item():.6f}  train acc {acc:.3f}")
