# L2-regularised logistic regression fitted with a truncated Newton method (Newton-CG):
# Hessian-vector products via jvp-of-grad, a few CG iterations per outer step, stop on |g| < tol.
import mlx.core as mx

mx.random.seed(11)
N, D = 4000, 20
X = mx.random.normal((N, D))
w_true = mx.random.normal((D,))
y = (mx.random.uniform(shape=(N,)) < mx.sigmoid(X @ w_true)).astype(mx.float32)
lam = 1e-2


def objective(w):
    z = X @ w
    return mx.mean(mx.logaddexp(0.0, z) - y * z) + 0.5 * lam * mx.sum(w * w)


grad_f = mx.grad(objective)


def hvp(w, v):
    return mx.jvp(grad_f, (w,), (v,))[1][0]


def conjugate_gradient(w, g, iters=10, tol=1e-6):
    x = mx.zeros_like(g)
    r = -g
    p = r
    rs = mx.sum(r * r)
    for k in range(iters):
        Ap = hvp(w, p)
        alpha = rs / mx.sum(p * Ap)
        x = x + alpha * p
        r = r - alpha * Ap
        rs_new = mx.sum(r * r)
        mx.eval(x, r, rs_new)
        if rs_new.item() ** 0.5 < tol:
            return x, k + 1
        p = r + (rs_new / rs) * p
        rs = rs_new
    return x, iters


w = mx.zeros((D,))
print(f"{'it':>3} {'objective':>12} {'|grad|':>10} {'cg':>3} {'step':>6}")
for it in range(25):
    f = objective(w)
    g = grad_f(w)
    gn = mx.sqrt(mx.sum(g * g))
    mx.eval(f, g, gn)
    if gn.item() < 1e-6:
        print(f"{it:>3} {f.item():>12.8f} {gn.item():>10.2e}   - converged")
        break
    d, n_cg = conjugate_gradient(w, g)
    t = 1.0
    # Armijo backtracking (rarely triggers for Newton directions)
    while objective(w + t * d).item() > f.item() + 1e-4 * t * mx.sum(g * d).item():
        t *= 0.5
    w = w + t * d
    mx.eval(w)
    print(f"{it:>3} {f.item():>12.8f} {gn.item():>10.2e} {n_cg:>3} {t:>6.3f}")

acc = mx.mean(((X @ w) > 0).astype(mx.float32) == y).item()
cos = (mx.sum(w * w_true) / mx.sqrt(mx.sum(w * w) * mx.sum(w_true * w_true))).item()
print(f"final train acc {acc:.4f}, cosine(w, w_true) {cos:.4f}")
