"""Lighthouse fog signal: audible range (km) of the horn from 5 weather readings,
with a predicted spread.  Heteroscedastic Gaussian NLL (beta-NLL weighting via
stop_gradient), variance through a softplus written as a custom function.
Stage 1 trains the mean only (variance held at 1), stage 2 trains both, so the
NLL drops below zero.  Cosine schedule with warm restarts in stage 2.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(3)


@mx.custom_function
def soft_scale(x):
    return mx.logaddexp(x, 0.0) + 1e-3


@soft_scale.vjp
def _soft_scale_vjp(primals, cotangent, output):
    x = primals
    return cotangent * mx.sigmoid(x)


def make_nights(n, key):
    k1, k2 = mx.random.split(key)
    f = mx.random.normal((n, 5), key=k1)
    humid, wind, temp_inv, swell, drizzle = [f[:, i] for i in range(5)]
    mean = 3.0 + 0.8 * temp_inv - 0.6 * wind + 0.4 * mx.tanh(humid) - 0.3 * drizzle
    sd = 0.08 + 0.35 * mx.sigmoid(1.5 * wind + swell)
    y = mean + sd * mx.random.normal((n,), key=k2)
    return f, y, sd


class RangeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(5, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU())
        self.mu = nn.Linear(64, 1)
        self.var_raw = nn.Linear(64, 1)

    def __call__(self, x):
        h = self.trunk(x)
        return self.mu(h).squeeze(-1) + 3.0, soft_scale(self.var_raw(h).squeeze(-1))


def nll_terms(model, x, y, stage):
    mu, var = model(x)
    if stage == 1:
        var = mx.ones_like(var)
    per = 0.5 * (mx.log(2 * math.pi * var) + (y - mu) ** 2 / var)
    return per, mu, var


def loss_fn(model, x, y, stage, beta=0.5):
    per, _, var = nll_terms(model, x, y, stage)
    w = mx.stop_gradient(var) ** beta
    return mx.mean(w * per)


def sgdr(step, base=2e-3, cycle=150):
    t = step % cycle
    return 1e-5 + 0.5 * (base - 1e-5) * (1 + math.cos(math.pi * t / cycle))


def evaluate(model, x, y, stage):
    per, mu, var = nll_terms(model, x, y, stage)
    z = mx.abs(y - mu) / mx.sqrt(var)
    return mx.mean(per).item(), mx.mean((y - mu) ** 2).item(), mx.mean(z < 1.0).item()


def main():
    t0 = time.time()
    kt, kv = mx.random.split(mx.random.key(5))
    xtr, ytr, _ = make_nights(8000, kt)
    xva, yva, sdva = make_nights(2000, kv)
    oracle = mx.mean(0.5 * mx.log(2 * math.pi * sdva ** 2) + 0.5).item()
    base_var = mx.var(ytr).item()
    base_nll = 0.5 * math.log(2 * math.pi * base_var) + 0.5
    print(f"nights train {xtr.shape[0]} val {xva.shape[0]}")
    print(f"baseline nll (constant gaussian) {base_nll:.3f}  oracle nll {oracle:.3f}")

    model = RangeNet()
    mx.eval(model.parameters())
    opt = optim.AdamW(learning_rate=1e-3, weight_decay=1e-4)
    n = xtr.shape[0]
    step = 0
    for stage, steps in ((1, 300), (2, 600)):
        grad_fn = nn.value_and_grad(model, lambda m, a, b: loss_fn(m, a, b, stage))
        print(f"-- stage {stage} ({'mean only, unit variance' if stage == 1 else 'mean + variance, warm restarts'})")
        for s in range(steps):
            if stage == 2:
                opt.learning_rate = sgdr(s)
            idx = mx.random.randint(0, n, (256,))
            loss, grads = grad_fn(model, xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            if s % 75 == 0 or s == steps - 1:
                nll, mse, cover = evaluate(model, xva, yva, stage)
                print(f"stage {stage} step {s:4d} lr {opt.learning_rate.item():.2e} train {loss.item():+.4f} "
                      f"val nll {nll:+.4f} mse {mse:.4f} within-1sd {cover:.3f}", flush=True)
            step += 1
    nll, mse, cover = evaluate(model, xva, yva, 2)
    print(f"final val nll {nll:+.4f} (baseline {base_nll:+.3f}, oracle {oracle:+.3f}) mse {mse:.4f} within-1sd {cover:.3f} (target 0.683)")
    print(f"done in {time.time() - t0:.1f}s, {step} steps")


if __name__ == "__main__":
    main()
