"""Lasso regularisation path by stochastic proximal gradient (minibatch ISTA) in MLX.

Sparse linear regression with 60 features of which 6 matter.  The L1 penalty
is walked down a path lambda = 0.6 -> 0.25 -> 0.1 -> 0.04 -> 0.015, warm
starting each stage from the previous solution.  The smooth part (half the
mean squared error) is differentiated with mx.value_and_grad on a parameter
dict; the L1 part is handled by the soft-thresholding proximal step, so most
coefficients sit at exactly 0.0 (and stay there) for whole stages.

The logged objective (full-data half MSE + penalty) includes the penalty of the *current* lambda, so it
drops in a step each time lambda is lowered; the number of non-zero
coefficients grows along the path.  Output is INI-style: one [section] per
stage, key = value lines inside.
"""
import mlx.core as mx

mx.random.seed(11)
N, D, K = 600, 60, 6
LAMBDAS = [0.6, 0.25, 0.1, 0.04, 0.015]
ITERS_PER_STAGE = 400
REPORT_EVERY = 100
BATCH = 64

true_w = mx.zeros((D,))
support = mx.random.permutation(D)[:K]
true_w[support] = mx.array([3.0, -2.5, 2.0, -1.5, 1.0, 0.6])
X = mx.random.normal((N, D))
y = X @ true_w + 0.4 + 0.5 * mx.random.normal((N,))
Xv = mx.random.normal((300, D))
yv = Xv @ true_w + 0.4 + 0.5 * mx.random.normal((300,))

# step size from the Lipschitz constant of the smooth part: L = sigma_max(X)^2 / N
L = (mx.linalg.norm(X, ord=2, stream=mx.cpu) ** 2 / N).item()
lr = 0.5 / L

params = {"w": mx.zeros((D,)), "b": mx.array(0.0)}


def half_mse(p, xb, yb):
    r = xb @ p["w"] + p["b"] - yb
    return 0.5 * (r * r).mean()


vg = mx.value_and_grad(half_mse)


def soft_threshold(v, t):
    return mx.sign(v) * mx.maximum(mx.abs(v) - t, 0.0)


@mx.compile
def ista_step(w, b, lam, xb, yb):
    smooth, g = vg({"w": w, "b": b}, xb, yb)
    w_new = soft_threshold(w - lr * g["w"], lr * lam)
    b_new = b - lr * g["b"]
    return w_new, b_new, smooth


print("; lasso path, minibatch ISTA, batch %d, step size 0.5/L = %.5f" % (BATCH, lr))
print("; n=%d d=%d true_nonzero=%d" % (N, D, K))
it = 0
w, b = params["w"], params["b"]
for lam in LAMBDAS:
    lam_arr = mx.array(lam)
    print()
    print("[stage lambda=%.3f]" % lam)
    for k in range(1, ITERS_PER_STAGE + 1):
        idx = mx.random.randint(0, N, (BATCH,))
        w, b, smooth = ista_step(w, b, lam_arr, X[idx], y[idx])
        mx.eval(w, b, smooth)
        it += 1
        if k == 1 or k % REPORT_EVERY == 0:
            full = half_mse({"w": w, "b": b}, X, y).item()
            obj = full + lam * mx.abs(w).sum().item()
            nnz = int((w != 0).sum().item())
            val = (0.5 * ((Xv @ w + b - yv) ** 2).mean()).item()
            print("iter_%04d = objective %.5f | batch_half_mse %.5f | nnz %2d | val_half_mse %.5f"
                  % (it, obj, smooth.item(), nnz, val))
    hits = int(((w != 0) & (true_w != 0)).sum().item())
    print("support_recovered = %d/%d" % (hits, K))
    print("bias = %.4f" % b.item())

print()
print("[summary]")
print("max_coef_error = %.4f" % mx.abs(w - true_w).max().item())
