# Fit a 3-component 1-D Gaussian mixture by gradient ascent on the average
# log-likelihood (we minimise -loglik, but log the loglik itself: higher is better).
import mlx.core as mx
import mlx.optimizers as optim

mx.random.seed(7)
data = mx.concatenate([
    mx.random.normal((400,)) * 0.5 - 3.0,
    mx.random.normal((300,)) * 0.8 + 0.5,
    mx.random.normal((300,)) * 0.3 + 4.0,
])

params = {
    "logits": mx.zeros((3,)),
    "mu": mx.array([-2.0, 0.0, 2.0]),
    "log_sigma": mx.zeros((3,)),
}


def avg_loglik(p, x):
    logw = p["logits"] - mx.logsumexp(p["logits"])
    s = mx.exp(p["log_sigma"])
    z = (x[:, None] - p["mu"][None]) / s[None]
    comp = -0.5 * z * z - p["log_sigma"][None] - 0.9189385
    return mx.mean(mx.logsumexp(logw[None] + comp, axis=1))


neg = lambda p, x: -avg_loglik(p, x)
vg = mx.value_and_grad(neg)
opt = optim.Adam(learning_rate=0.05)
for it in range(601):
    nl, g = vg(params, data)
    params = opt.apply_gradients(g, params)
    mx.eval(params, opt.state)
    if it % 50 == 0:
        print({"iter": it, "loglik": round(-nl.item(), 4),
               "mu": [round(v, 2) for v in params["mu"].tolist()]})
