# Deep Sets (Zaheer et al. 2017): regress the standard deviation of a SET of
# scalars.  Sets have 3..20 elements, padded to 20 with a 0/1 mask; phi is
# applied per element, masked SUM pooling, then rho.  AdamW with linear warmup
# + cosine decay.  Each epoch prints one key=value line, including a
# permutation-invariance check and an extrapolation test on LARGER sets
# (25..40 elements, never seen in training).  Slow-ish: ~4 s per epoch.
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(5)
PAD = 20


def make_sets(n, lo, hi, pad):
    sizes = mx.random.randint(lo, hi + 1, (n,))
    scale = mx.random.uniform(0.2, 2.0, (n, 1))
    loc = mx.random.uniform(-3.0, 3.0, (n, 1))
    vals = loc + scale * mx.random.normal((n, pad))
    mask = (mx.arange(pad)[None, :] < sizes[:, None]).astype(mx.float32)
    cnt = mx.sum(mask, axis=1)
    mean = mx.sum(vals * mask, axis=1) / cnt
    var = mx.sum(((vals - mean[:, None]) ** 2) * mask, axis=1) / (cnt - 1)
    vals = vals * mask  # padded slots carry no information
    return vals[..., None], mask, mx.sqrt(var)


xs, ms, ys = make_sets(4000, 3, PAD, PAD)
xv, mv, yv = make_sets(1000, 3, PAD, PAD)
xl, ml, yl = make_sets(1000, 25, 40, 40)


class DeepSet(nn.Module):
    def __init__(self, h=48):
        super().__init__()
        self.phi = nn.Sequential(nn.Linear(1, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU(), nn.Linear(h, h))
        self.rho = nn.Sequential(nn.Linear(h + 1, h), nn.SiLU(), nn.Linear(h, 1))

    def __call__(self, x, mask):
        e = self.phi(x) * mask[..., None]
        n = mx.sum(mask, axis=1, keepdims=True)
        pooled = mx.sum(e, axis=1) / n          # masked mean = sum / count
        out = self.rho(mx.concatenate([pooled, mx.log(n)], axis=1))
        return nn.softplus(out[:, 0])


def loss_fn(model, x, mask, y):
    return nn.losses.huber_loss(model(x, mask), y, delta=0.5, reduction="mean")


def rel_err(model, x, mask, y):
    return mx.mean(mx.abs(model(x, mask) - y) / y).item()


model = DeepSet()
mx.eval(model.parameters())
EPOCHS, BS = 12, 100
steps = EPOCHS * (xs.shape[0] // BS)
sched = optim.join_schedules(
    [optim.linear_schedule(1e-5, 2e-3, 150), optim.cosine_decay(2e-3, steps - 150, 1e-5)], [150]
)
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
vg = nn.value_and_grad(model, loss_fn)

for ep in range(1, EPOCHS + 1):
    perm = mx.random.permutation(xs.shape[0])
    tot, nb = 0.0, 0
    for i in range(0, xs.shape[0], BS):
        idx = perm[i:i + BS]
        loss, grads = vg(model, xs[idx], ms[idx], ys[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
        nb += 1
    # permutation check: shuffle the element axis (mask shuffled the same way)
    p = mx.random.permutation(PAD)
    perm_gap = mx.max(mx.abs(model(xv, mv) - model(xv[:, p], mv[:, p]))).item()
    print(
        f"epoch={ep} lr={opt.learning_rate.item():.2e} train_huber={tot / nb:.5f} "
        f"val_relerr={rel_err(model, xv, mv, yv):.4f} big_sets_relerr={rel_err(model, xl, ml, yl):.4f} "
        f"perm_gap={perm_gap:.1e}",
        flush=True,
    )
