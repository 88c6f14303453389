"""Robust 1-D regression under heavy-tailed noise: MLP mean, learned scale and learned
degrees of freedom of a Student-t likelihood (15% gross outliers in the targets)."""
import logging, math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(levelname)-7s %(name)s: %(message)s")
log = logging.getLogger("robust-t")

mx.random.seed(11)
N = 1200
x = mx.random.uniform(-3, 3, (N, 1))
f = lambda z: mx.sin(1.5 * z) + 0.3 * z
clean = f(x)[:, 0]
noise = 0.15 * mx.random.normal((N,))
outl = mx.random.uniform(0, 1, (N,)) < 0.15
y = clean + mx.where(outl, 4.0 * mx.random.normal((N,)), noise)
xv = mx.linspace(-3, 3, 400)[:, None]; fv = f(xv)[:, 0]

class TReg(nn.Module):
    def __init__(self):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(1, 48), nn.GELU(), nn.Linear(48, 48), nn.GELU(), nn.Linear(48, 1))
        self.log_scale = mx.array(0.0)
        self.log_nu_m1 = mx.array(math.log(9.0))     # nu = 1 + exp(.) starts at 10
    def __call__(self, x):
        return self.mlp(x)[:, 0]

def lgamma(x):
    # shift by 6 then Stirling series (no lgamma op in mlx); abs err < 1e-7 for x > 0.5
    shift = mx.log(x * (x + 1) * (x + 2) * (x + 3) * (x + 4) * (x + 5))
    z = x + 6
    st = (z - 0.5) * mx.log(z) - z + 0.5 * math.log(2 * math.pi) + 1 / (12 * z) - 1 / (360 * z ** 3) + 1 / (1260 * z ** 5)
    return st - shift

def t_nll(model, x, y):
    nu = 1.0 + mx.exp(model.log_nu_m1)
    s = mx.exp(model.log_scale)
    z = (y - model(x)) / s
    logp = (lgamma((nu + 1) / 2) - lgamma(nu / 2) - 0.5 * mx.log(nu * math.pi)
            - model.log_scale - (nu + 1) / 2 * mx.log1p(z * z / nu))
    return -mx.mean(logp)

model = TReg()
opt = optim.Adam(learning_rate=3e-3)
vg = nn.value_and_grad(model, t_nll)
bs, step = 100, 0
for epoch in range(1, 61):
    perm = mx.random.permutation(N)
    run = []
    for i in range(0, N, bs):
        idx = perm[i:i + bs]
        loss, g = vg(model, x[idx], y[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        run.append(loss.item()); step += 1
    if epoch % 5 == 0 or epoch == 1:
        mae = mx.mean(mx.abs(model(xv) - fv)).item()
        nu = 1 + math.exp(model.log_nu_m1.item())
        log.info("epoch=%02d step=%d nll=%.4f nu=%.2f scale=%.3f clean_mae=%.4f",
                 epoch, step, sum(run) / len(run), nu, math.exp(model.log_scale.item()), mae)
        if nu < 2.0:
            log.warning("nu=%.2f < 2: the fitted noise has infinite variance (expected with gross outliers)", nu)
