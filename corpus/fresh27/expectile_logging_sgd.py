# Expectile regression (tau=0.85) of a heteroscedastic target, logged with `logging`.
import logging, math, sys
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(asctime)s %(levelname)s | %(message)s")
log = logging.getLogger("expectile")
mx.random.seed(3)
TAU = 0.85


def make(n):
    x = mx.random.uniform(-2, 2, (n, 3))
    scale = 0.2 + 0.5 * mx.abs(x[:, :1])
    y = mx.sin(2 * x[:, :1]) + 0.3 * x[:, 1:2] + scale * mx.random.normal((n, 1))
    return x, y


Xtr, Ytr = make(4000)
Xva, Yva = make(1000)
model = nn.Sequential(nn.Linear(3, 48), nn.GELU(), nn.Linear(48, 48), nn.GELU(), nn.Linear(48, 1))
mx.eval(model.parameters())


def expectile_loss(model, x, y):
    r = y - model(x)
    w = mx.where(r > 0, TAU, 1 - TAU)
    return mx.mean(w * r * r)


sched = optim.step_decay(0.05, 0.5, 600)
opt = optim.SGD(learning_rate=sched, momentum=0.9)
vg = nn.value_and_grad(model, expectile_loss)
base = expectile_loss(model, Xva, Yva).item()
log.info("start val expectile loss %.4f (tau=%.2f)", base, TAU)
for step in range(1, 1801):
    idx = mx.random.randint(0, Xtr.shape[0], (128,))
    loss, g = vg(model, Xtr[idx], Ytr[idx])
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state)
    if step % 150 == 0:
        v = expectile_loss(model, Xva, Yva).item()
        above = mx.mean((Yva > model(Xva)).astype(mx.float32)).item()
        log.info("step %4d lr %.4f batch %.4f val %.4f (%.0f%% of start) share_above %.3f",
                 step, opt.learning_rate.item(), loss.item(), v, 100 * v / base, above)
log.info("done")
