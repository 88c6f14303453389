# Ice-core paleothermometry: reconstruct a site temperature anomaly (deg C)
# from synthetic core measurements (d18O, deuterium excess, dust, CO2, CH4,
# accumulation).  Two stages: stage A uses shallow, well-resolved ice; stage B
# adds deep, diffused ice (noisier, smoothed proxies) so the loss jumps before
# it settles.  Adafactor, warm-up from lr = 0, a softplus with a hand-written VJP.
import logging
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s | %(message)s")
log = logging.getLogger("icecore")

mx.random.seed(11)
N_FEAT = 6


def make_core(n, depth_lo, depth_hi, key):
    k1, k2, k3 = mx.random.split(key, 3)
    depth = mx.random.uniform(depth_lo, depth_hi, (n, 1), key=k1)
    temp = 6.0 * mx.sin(depth / 170.0) + 2.0 * mx.cos(depth / 41.0)  # anomaly, deg C
    diffuse = 0.2 + 0.8 * (depth / 3000.0)  # deeper ice: more diffusion noise
    eps = mx.random.normal((n, N_FEAT), key=k2) * diffuse
    d18o = -35.0 + 0.8 * temp
    dxs = 8.0 - 0.3 * temp
    dust = mx.exp(-0.25 * temp)
    co2 = 230.0 + 9.0 * temp
    ch4 = 550.0 + 25.0 * temp
    accum = 0.1 * mx.exp(0.07 * temp)
    raw = mx.concatenate([d18o, dxs, dust, co2, ch4, accum], axis=1)
    scale = mx.array([[0.8, 0.3, 0.3, 9.0, 25.0, 0.01]])
    x = raw + eps * scale
    _ = k3
    return x, temp


@mx.custom_function
def softplus(x):
    return mx.logaddexp(x, 0.0)


@softplus.vjp
def softplus_vjp(x, cotangent, output):
    return cotangent * mx.sigmoid(x)


class ProxyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(N_FEAT, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        return self.out(softplus(self.l2(softplus(self.l1(x)))))


xa, ya = make_core(1200, 50.0, 900.0, mx.random.key(1))
xb, yb = make_core(1200, 900.0, 2900.0, mx.random.key(2))
xv_a, yv_a = make_core(300, 50.0, 900.0, mx.random.key(3))
xv_b, yv_b = make_core(300, 900.0, 2900.0, mx.random.key(4))
mu, sd = xa.mean(axis=0), xa.std(axis=0) + 1e-6
norm = lambda x: (x - mu) / sd

model = ProxyNet()
mx.eval(model.parameters())


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


vg = nn.value_and_grad(model, loss_fn)

# gradient audit once before training: every layer must receive signal
_, g0 = vg(model, norm(xa[:64]), ya[:64])
for name, g in nn.utils.tree_flatten(g0):
    log.info("grad-audit %-12s |g|=%.3e", name, mx.linalg.norm(g).item())

stages = [("A-shallow", xa, ya, xv_a, yv_a, 900), ("B-deep", mx.concatenate([xa, xb]),
          mx.concatenate([ya, yb]), mx.concatenate([xv_a, xv_b]), mx.concatenate([yv_a, yv_b]), 1200)]

for sname, xs, ys, xv, yv, steps in stages:
    warm = 100
    sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, warm),
                                  optim.cosine_decay(3e-3, steps - warm, 3e-4)], [warm])
    opt = optim.Adafactor(learning_rate=sched, relative_step=False, scale_parameter=False)
    clim = math.sqrt(((yv - yv.mean()) ** 2).mean().item())
    n = xs.shape[0]
    for step in range(steps):
        idx = mx.random.randint(0, n, (64,))
        loss, grads = vg(model, norm(xs[idx]), ys[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 150 == 0 or step == steps - 1:
            rmse = math.sqrt(loss_fn(model, norm(xv), yv).item())
            log.info("stage=%s step=%04d lr=%.2e rmse=%.3f degC (climatology %.3f degC) skill=%.1f%%",
                     sname, step, opt.learning_rate.item(), rmse, clim, 100 * (1 - rmse / clim))

final = math.sqrt(loss_fn(model, norm(xv_b), yv_b).item())
log.info("deep-ice holdout rmse %.3f degC", final)
