"""Bell foundry: predict the hum-partial offset (cents) of a cast bell from its profile.

Three stages on purpose:
  A. a shallow 2-block residual net on bronze bells (quiet, one summary at the end)
  B. progressive stacking: a 4-block net initialised as [b0, b1, b0, b1] copies
     (not function preserving, so the loss jumps at the start of B)
  C. transfer to a small set of brass bells: bottom three blocks frozen, the top
     block and the head drawn afresh, warm-up from lr 0
"""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(7)
mx.random.seed(7)
FEATS = ["diameter_mm", "lip_mm", "waist_mm", "crown_mm", "height_ratio", "tin_pct", "temper_c"]


def cast_bells(n, alloy):
    d = rng.uniform(300, 1400, n)
    lip = d * rng.uniform(0.065, 0.095, n)
    waist = lip * rng.uniform(0.30, 0.45, n)
    crown = lip * rng.uniform(0.45, 0.70, n)
    hr = rng.uniform(0.70, 0.90, n)
    tin = rng.uniform(20, 24, n) if alloy == "bronze" else rng.uniform(0, 3, n)
    temper = rng.uniform(15, 35, n)
    thick = lip / d * 100.0
    cents = (220.0 * np.log(thick / 8.0) - 900.0 * (waist / lip - 0.37)
             + 180.0 * (hr - 0.8) / 0.1 * (crown / lip - 0.55)
             + 6.0 * (tin - 22.0) - 0.8 * (temper - 25.0))
    if alloy == "brass":
        cents = cents * 0.85 + 60.0 + 120.0 * (waist / lip - 0.37) ** 2 * 10
    cents = cents + rng.normal(0, 8.0, n)
    X = np.stack([d, lip, waist, crown, hr, tin, temper], 1)
    return X.astype(np.float32), cents.astype(np.float32)


Xb, yb = cast_bells(9000, "bronze")
Xs, ys = cast_bells(700, "brass")
mu, sd = Xb.mean(0), Xb.std(0) + 1e-6
ysc = 100.0  # targets in units of 100 cents


def prep(X, y):
    return mx.array((X - mu) / sd), mx.array(y / ysc)


Xb_tr, yb_tr = prep(Xb[:7500], yb[:7500]); Xb_va, yb_va = prep(Xb[7500:], yb[7500:])
Xs_tr, ys_tr = prep(Xs[:300], ys[:300]); Xs_va, ys_va = prep(Xs[300:], ys[300:])


class Block(nn.Module):
    def __init__(self, w):
        super().__init__()
        self.norm = nn.LayerNorm(w)
        self.fc1 = nn.Linear(w, 2 * w)
        self.fc2 = nn.Linear(2 * w, w)

    def __call__(self, h):
        return h + self.fc2(nn.gelu(self.fc1(self.norm(h))))


class BellNet(nn.Module):
    def __init__(self, depth, w=48):
        super().__init__()
        self.stem = nn.Linear(len(FEATS), w)
        self.blocks = [Block(w) for _ in range(depth)]
        self.head = nn.Linear(w, 1)

    def __call__(self, x):
        h = self.stem(x)
        for b in self.blocks:
            h = b(h)
        return self.head(h).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=0.5, reduction="mean")


def cents_mae(model, x, y):
    return float(mx.mean(mx.abs(model(x) - y)).item()) * ysc


def fit(model, opt, X, Y, steps, bs, every=None, tag=""):
    vg = nn.value_and_grad(model, loss_fn)
    n = X.shape[0]
    win = []
    for s in range(steps):
        idx = mx.array(rng.integers(0, n, bs))
        loss, g = vg(model, X[idx], Y[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        win.append(loss.item())
        if every and (s % every == 0 or s == steps - 1):
            lr = opt.learning_rate.item() if isinstance(opt.learning_rate, mx.array) else opt.learning_rate
            yield s, float(np.mean(win)), lr
            win = []
    if not every:
        yield steps - 1, float(np.mean(win[-100:])), None


def grad_leaves(model, X, Y):
    _, g = nn.value_and_grad(model, loss_fn)(model, X[:128], Y[:128])
    flat = tree_flatten(g)
    zero = [k for k, v in flat if float(mx.abs(v).max().item()) == 0.0]
    return len(flat), zero


# rule-of-thumb reference: mean offset of the training bells
ref_b = float(np.mean(np.abs(yb[7500:] - yb[:7500].mean())))
ref_s = float(np.mean(np.abs(ys[300:] - ys[:300].mean())))
print(f"foundry book: {len(Xb)} bronze bells, {len(Xs)} brass bells; hum offset sd {yb.std():.0f} / {ys.std():.0f} cents")
print(f"reference (book mean) MAE: bronze {ref_b:.1f} cents, brass {ref_s:.1f} cents")

t0 = time.time()
# ---- stage A: shallow net, quiet ----
netA = BellNet(depth=2)
n_leaf, zero = grad_leaves(netA, Xb_tr, yb_tr)
print(f"[A] depth 2, {sum(v.size for _, v in tree_flatten(netA.parameters()))} weights, grad leaves {n_leaf}, zero {zero or 'none'}")
optA = optim.Adam(learning_rate=optim.cosine_decay(2e-3, 900, 2e-4))
for s, l, _ in fit(netA, optA, Xb_tr, yb_tr, 900, 128):
    pass
print(f"[A] done  huber(last100) {l:.4f}  val MAE {cents_mae(netA, Xb_va, yb_va):6.1f} cents  {time.time()-t0:4.1f}s")

# ---- stage B: stacking to depth 4 ----
netB = BellNet(depth=4)
pA = dict(tree_flatten(netA.parameters()))
newp = []
for k, v in tree_flatten(netB.parameters()):
    if k.startswith("blocks."):
        i = int(k.split(".")[1]); rest = k.split(".", 2)[2]
        newp.append((k, pA[f"blocks.{i % 2}.{rest}"]))
    else:
        newp.append((k, pA[k]))
netB.load_weights(newp)
mx.eval(netB.parameters())
print(f"[B] stacked [b0,b1,b0,b1]: val MAE right after copy {cents_mae(netB, Xb_va, yb_va):6.1f} cents (shallow was {cents_mae(netA, Xb_va, yb_va):.1f})")
optB = optim.Adam(learning_rate=optim.cosine_decay(1e-3, 700, 1e-4))
for s, l, lr in fit(netB, optB, Xb_tr, yb_tr, 700, 128, every=100):
    print(f"[B] step {s:4d}  lr {lr:.2e}  huber {l:.4f}  val MAE {cents_mae(netB, Xb_va, yb_va):6.1f} cents")

# ---- stage C: brass transfer, bottom frozen, top block + head redrawn ----
netC = BellNet(depth=4)
netC.load_weights(list(tree_flatten(netB.parameters())))
fresh = BellNet(depth=4)
netC.blocks[3].update(fresh.blocks[3].parameters())
netC.head.update(fresh.head.parameters())
netC.stem.freeze()
for b in netC.blocks[:3]:
    b.freeze()
frozen_before = tree_map(lambda a: mx.array(a), netC.blocks[0].parameters())
mx.eval(netC.parameters())
n_leaf, zero = grad_leaves(netC, Xs_tr, ys_tr)
print(f"[C] brass: {len(tree_flatten(netC.trainable_parameters()))} trainable arrays (top block + head), grad leaves {n_leaf}, zero {zero or 'none'}")
print(f"[C] before tuning: val MAE {cents_mae(netC, Xs_va, ys_va):6.1f} cents  (bronze net unchanged: {cents_mae(netB, Xs_va, ys_va):6.1f})")
schedC = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, 100), optim.cosine_decay(2e-3, 500, 1e-4)], [100])
optC = optim.AdamW(learning_rate=schedC, weight_decay=1e-3)
for s, l, lr in fit(netC, optC, Xs_tr, ys_tr, 600, 32, every=100):
    print(f"[C] step {s:4d}  lr {lr:.2e}  huber {l:.4f}  val MAE {cents_mae(netC, Xs_va, ys_va):6.1f} cents  ref {ref_s:.1f}")
drift = max(float(mx.abs(a - b).max().item()) for (_, a), (_, b) in
            zip(tree_flatten(frozen_before), tree_flatten(netC.blocks[0].parameters())))
print(f"[C] frozen block 0 drift {drift:.1f}")
print(f"done in {time.time()-t0:.1f}s: bronze val MAE {cents_mae(netB, Xb_va, yb_va):.1f} cents, brass val MAE {cents_mae(netC, Xs_va, ys_va):.1f} cents")
