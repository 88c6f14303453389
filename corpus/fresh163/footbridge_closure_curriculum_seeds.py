# Alpine suspension footbridge: status for the next 15 min (open / one-way restricted / closed).
# Three seeds; each seed runs an easy stage (calm days only) then the full season (gusty days
# added, so the loss jumps up). A frozen random-feature "sensor encoder" on purpose; only the
# head and the adapter are trained, with a hand-written momentum SGD.
import logging, time
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s bridge-ops | %(message)s")
log = logging.getLogger("footbridge")

def season(n, key, gusty):
    k1, k2, k3 = mx.random.split(key, 3)
    # mean wind (m/s), gust (m/s), cross-wind cos, temp (C), deck icing index, visitor load
    raw = mx.random.normal((n, 6), key=k1)
    wind = 6 + (4 if gusty else 2) * mx.abs(raw[:, 0])
    gust = wind + (3 if gusty else 1) * mx.abs(raw[:, 1])
    score = 0.35 * gust + 0.15 * wind - 1.2 * raw[:, 2] + 0.6 * raw[:, 4] + 0.3 * mx.random.normal((n,), key=k2)
    lab = (score > 5.0).astype(mx.int32) + (score > 7.0).astype(mx.int32)
    x = mx.stack([wind / 10, gust / 10, raw[:, 2], raw[:, 3], raw[:, 4], raw[:, 5]], axis=1)
    return x, lab

class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(6, 48)
    def __call__(self, x):
        return mx.cos(self.proj(x))

class BridgeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = Encoder()
        self.adapter = nn.Linear(6, 48)
        self.head = nn.Sequential(nn.Linear(96, 32), nn.ReLU(), nn.Linear(32, 3))
    def __call__(self, x):
        return self.head(mx.concatenate([self.enc(x), nn.relu(self.adapter(x))], axis=1))

def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")

t0 = time.time()
summary = []
for seed in (11, 12, 13):
    mx.random.seed(seed)
    model = BridgeNet()
    model.enc.freeze()           # fixed random features, never trained
    vel = tree_map(mx.zeros_like, model.trainable_parameters())
    lr, mom = 0.15, 0.9
    xe, ye = season(3000, mx.random.key(seed * 10 + 1), gusty=False)
    xh, yh = season(3000, mx.random.key(seed * 10 + 2), gusty=True)
    xv, yv = season(1500, mx.random.key(seed * 10 + 3), gusty=True)
    xall, yall = mx.concatenate([xe, xh]), mx.concatenate([ye, yh])
    vg = nn.value_and_grad(model, loss_fn)
    _, g = vg(model, xe[:200], ye[:200])
    dead = [k for k, v in tree_flatten(g) if float(mx.abs(v).max()) == 0.0]
    log.info("seed=%d trainable tensors=%d frozen enc tensors=%d zero-grad=%s", seed,
             len(tree_flatten(model.trainable_parameters())), len(tree_flatten(model.enc.parameters())), dead)
    enc_before = model.enc.proj.weight * 1
    for stage, (xs, ys, epochs) in enumerate([(xe, ye, 6), (xall, yall, 10)], start=1):
        n = xs.shape[0]
        for ep in range(1, epochs + 1):
            perm = mx.random.permutation(n)
            tot = 0.0
            for i in range(0, n, 100):
                b = perm[i:i + 100]
                loss, g = vg(model, xs[b], ys[b])
                vel = tree_map(lambda v, gg: mom * v + gg, vel, g)
                model.update(tree_map(lambda p, v: p - lr * v, model.trainable_parameters(), vel))
                mx.eval(loss, model.parameters(), vel)
                tot += loss.item() * b.shape[0]
            acc = float((mx.argmax(model(xv), axis=1) == yv).mean())
            closes = float(((mx.argmax(model(xv), axis=1) == 2) & (yv == 2)).sum() / mx.maximum((yv == 2).sum(), 1))
            log.info("seed=%d stage=%d epoch=%02d/%02d xent=%.4f val_acc=%.1f%% closed_recall=%.1f%%",
                     seed, stage, ep, epochs, tot / n, 100 * acc, 100 * closes)
    drift = float(mx.abs(model.enc.proj.weight - enc_before).max())
    log.info("seed=%d audit: frozen encoder max|dW|=%.2e", seed, drift)
    summary.append(acc)
log.info("summary val_acc per seed: %s  mean=%.1f%%  majority-class baseline=%.1f%%  (%.1fs)",
         ", ".join(f"{100*a:.1f}%" for a in summary), 100 * sum(summary) / 3,
         100 * max(float((yv == c).mean()) for c in range(3)), time.time() - t0)
