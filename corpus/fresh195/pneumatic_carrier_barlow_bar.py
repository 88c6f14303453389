# Hospital pneumatic-tube system: self-supervised pretraining (Barlow Twins) on
# carrier transit pressure traces, then a linear probe on a frozen encoder to
# read off which route (diverter combination) the carrier took.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from functools import partial

rng = np.random.default_rng(7)
T = 32
N_ROUTES = 4
DIVERTERS = [(6, 19), (9, 24), (12, 17), (15, 27)]  # sample index of the two diverter dips


def make_traces(n):
    y = rng.integers(0, N_ROUTES, n)
    t = np.arange(T)[None, :]
    base = 4.0 + 0.02 * t + rng.normal(0, 0.3, (n, 1))       # blower pressure, kPa
    gain = rng.uniform(0.7, 1.3, (n, 1))
    shift = rng.integers(-2, 3, (n, 1))
    d1 = np.array([DIVERTERS[k][0] for k in y])[:, None] + shift
    d2 = np.array([DIVERTERS[k][1] for k in y])[:, None] + shift
    x = base - gain * (1.4 * np.exp(-0.5 * ((t - d1) / 1.3) ** 2)
                       + 0.9 * np.exp(-0.5 * ((t - d2) / 1.8) ** 2))
    x += rng.normal(0, 0.25, x.shape)
    return x.astype(np.float32), y.astype(np.int32)


xtr_np, ytr_np = make_traces(6000)
xte_np, yte_np = make_traces(1500)
mu, sd = xtr_np.mean(0), xtr_np.std(0) + 1e-6
xtr = mx.array((xtr_np - mu) / sd)
xte = mx.array((xte_np - mu) / sd)
ytr, yte = mx.array(ytr_np), mx.array(yte_np)


def augment(x):
    b = x.shape[0]
    g = mx.random.uniform(0.8, 1.2, (b, 1))
    noise = 0.25 * mx.random.normal(x.shape)
    keep = (mx.random.uniform(shape=x.shape) > 0.1).astype(x.dtype)
    s = int(np.random.default_rng().integers(-2, 3))
    return mx.roll(x * g + noise, s, axis=1) * keep


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(T, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU(), nn.Linear(64, 24))

    def __call__(self, x):
        return self.body(x)


class Twin(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = Encoder()
        self.projector = nn.Sequential(nn.Linear(24, 64), nn.ReLU(), nn.Linear(64, 64))

    def __call__(self, x):
        return self.projector(self.encoder(x))


LAMBDA = 5e-3


def barlow_terms(model, xa, xb):
    za, zb = model(xa), model(xb)
    za = (za - za.mean(0)) / (za.std(0) + 1e-5)
    zb = (zb - zb.mean(0)) / (zb.std(0) + 1e-5)
    c = (za.T @ zb) / za.shape[0]
    diag = mx.diag(c)
    on = mx.sum((1 - diag) ** 2)
    off = mx.sum(c ** 2) - mx.sum(diag ** 2)
    return on + LAMBDA * off, on, off


def barlow_loss(model, xa, xb):
    return barlow_terms(model, xa, xb)[0]


mx.random.seed(3)
twin = Twin()
opt = optim.AdamW(learning_rate=1e-3, weight_decay=1e-4)
vg = nn.value_and_grad(twin, barlow_loss)

# one-off gradient audit before training
xa0, xb0 = augment(xtr[:256]), augment(xtr[:256])
_, g0 = vg(twin, xa0, xb0)
flat = [v for _, v in __import__("mlx.utils", fromlist=["tree_flatten"]).tree_flatten(g0)]
nz = sum(int(mx.any(v != 0).item()) for v in flat)
gnorm = float(mx.sqrt(sum(mx.sum(v * v) for v in flat)).item())
print(f"grad-audit: {nz}/{len(flat)} tensors nonzero, global norm {gnorm:.3f}")

state = [twin.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def ssl_step(xa, xb):
    loss, grads = vg(twin, xa, xb)
    opt.update(twin, grads)
    return loss


STEPS, BS = 420, 128
t0 = time.time()
for step in range(1, STEPS + 1):
    idx = mx.array(np.random.default_rng(step).integers(0, xtr.shape[0], BS))
    xb = xtr[idx]
    loss = ssl_step(augment(xb), augment(xb))
    mx.eval(loss, twin.parameters(), opt.state)
    if step % 60 == 0 or step == 1:
        _, on, off = barlow_terms(twin, augment(xb), augment(xb))
        frac = step / STEPS
        bar = "#" * int(20 * frac) + " " * (20 - int(20 * frac))
        el = time.time() - t0
        eta = el / frac - el
        print(f"pretrain {100*frac:3.0f}%|{bar}| {step}/{STEPS} [{el:05.1f}s<{eta:05.1f}s, "
              f"loss={loss.item():.2f}, on={on.item():.2f}, off={off.item():.1f}]")


def probe(encoder, tag):
    encoder.freeze()
    head = nn.Linear(24, N_ROUTES)
    popt = optim.SGD(learning_rate=0.05, momentum=0.9)

    def ce(h, x, y):
        return nn.losses.cross_entropy(h(mx.stop_gradient(encoder(x))), y, reduction="mean")

    pvg = nn.value_and_grad(head, ce)
    for s in range(300):
        idx = mx.array(np.random.default_rng(10_000 + s).integers(0, xtr.shape[0], 256))
        l, g = pvg(head, xtr[idx], ytr[idx])
        popt.update(head, g)
        mx.eval(l, head.parameters(), popt.state)
    acc = mx.mean(mx.argmax(head(encoder(xte)), axis=1) == yte).item()
    return acc, l.item()


acc_ssl, l_ssl = probe(twin.encoder, "ssl")
mx.random.seed(3)
acc_rand, l_rand = probe(Encoder(), "random")
print("linear probe on frozen encoder (test, 1500 traces)")
print(f"  pretrained encoder : acc {100*acc_ssl:5.1f}%  final probe CE {l_ssl:.3f}")
print(f"  random-init encoder: acc {100*acc_rand:5.1f}%  final probe CE {l_rand:.3f}")
print(f"  chance             : acc {100/N_ROUTES:5.1f}%")
