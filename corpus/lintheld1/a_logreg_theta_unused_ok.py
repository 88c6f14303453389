# Plain logistic regression with hand-rolled SGD, written as a notebook-style script.
import mlx.core as mx

mx.random.seed(7)
n, d = 2000, 5
true_w = mx.array([1.5, -2.0, 0.5, 0.0, 3.0, -0.5])          # last entry is the bias
X = mx.concatenate([mx.random.normal((n, d)), mx.ones((n, 1))], axis=1)
y = (mx.random.uniform(shape=(n,)) < mx.sigmoid(X @ true_w)).astype(mx.float32)


def nll(theta, Xb, yb):
    z = Xb @ theta
    return mx.mean(mx.logaddexp(0.0, z) - yb * z)


loss_and_grad = mx.value_and_grad(nll)

w = mx.zeros((d + 1,))
lr = 0.5
for epoch in range(10):
    for i in range(0, n, 200):
        loss, g = loss_and_grad(w, X[i:i + 200], y[i:i + 200])
        w = w - lr * g
        mx.eval(w, loss)
    acc = mx.mean((X @ w > 0) == (y > 0.5)).item()
    print(f"epoch {epoch}  loss {loss.item():.4f}  acc {acc:.3f}  w {[round(v, 2) for v in w.tolist()]}")
