"""Farm-stand produce app: next-pick recommendation over 320 products.

Season 1 fits user and product vectors in float.  For season 2 the product
table is packed to 4 bits (nn.QuantizedEmbedding, held frozen) and only the
new shoppers' vectors and a per-product offset are fitted, scoring all
products through the packed table's as_linear().  Season 2 is run in two
sittings with a checkpoint in between."""
import os
import tempfile

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

N_ITEMS, DIM, TRUE_DIM = 320, 64, 8
rng = np.random.default_rng(11)
item_true = rng.normal(size=(N_ITEMS, TRUE_DIM)).astype(np.float32)
item_pop = rng.normal(scale=1.0, size=N_ITEMS).astype(np.float32)


def shoppers(n, picks):
    u = rng.normal(size=(n, TRUE_DIM)).astype(np.float32)
    logits = 0.9 * u @ item_true.T + item_pop
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    cum = p.cumsum(1)
    draws = (rng.random((n, picks, 1)) < cum[:, None, :]).argmax(-1)
    users = np.repeat(np.arange(n), picks)
    return users.astype(np.int32), draws.reshape(-1).astype(np.int32)


u1, i1 = shoppers(1500, 30)                  # season 1
u2, i2 = shoppers(600, 24)                   # season 2 (new shoppers)
hold = np.zeros(len(u2), bool)
hold[np.arange(len(u2)) % 24 >= 18] = True   # last 6 picks per shopper held out
print(f"season 1: {len(u1)} picks by 1500 shoppers | season 2: {(~hold).sum()} fit picks, "
      f"{hold.sum()} held-out picks by 600 new shoppers | {N_ITEMS} products")


class Season1(nn.Module):
    def __init__(self, n_users):
        super().__init__()
        self.users = nn.Embedding(n_users, DIM)
        self.products = nn.Embedding(N_ITEMS, DIM)
        self.offset = mx.zeros((N_ITEMS,))

    def __call__(self, u):
        return self.users(u) @ self.products.weight.T + self.offset


class Season2(nn.Module):
    def __init__(self, n_users, packed_items, offset):
        super().__init__()
        self.users = nn.Embedding(n_users, DIM)
        self.users.weight = self.users.weight * 0.1
        self.products = packed_items
        self.offset = offset

    def __call__(self, u):
        return self.products.as_linear(self.users(u)) + self.offset


def xent(m, u, i):
    return mx.mean(nn.losses.cross_entropy(m(u), i))


def recall_at_10(m, users, items):
    top = mx.argsort(-m(mx.array(users)), axis=1)[:, :10]
    return float(mx.mean(mx.any(top == mx.array(items)[:, None], axis=1)).item()) * 100


# ---------------- season 1 (float, quiet) ----------------
mx.random.seed(0)
s1 = Season1(1500)
opt1 = optim.Adam(learning_rate=1e-2)
step1 = nn.value_and_grad(s1, xent)
U1, I1 = mx.array(u1), mx.array(i1)
for ep in range(4):
    perm = np.random.default_rng(ep).permutation(len(u1))
    for b in range(0, len(perm), 1024):
        idx = mx.array(perm[b:b + 1024])
        loss, g = step1(s1, U1[idx], I1[idx])
        opt1.update(s1, g)
        mx.eval(s1.parameters(), opt1.state, loss)
print(f"season 1 done: train xent {loss.item():.3f} nats (uniform guess {np.log(N_ITEMS):.3f})")

# ---------------- season 2 setup: packed product table ----------------
packed = nn.QuantizedEmbedding.from_embedding(s1.products, group_size=32, bits=4)
packed.freeze()
snap = {k: np.array(v) for k, v in tree_flatten(packed.parameters())}
deq = mx.dequantize(packed.weight, packed.scales, packed.biases, group_size=32, bits=4)
print(f"product table packed to 4 bits: max |float - packed| = "
      f"{float(mx.max(mx.abs(deq - s1.products.weight)).item()):.4f}")

fit_u, fit_i = mx.array(u2[~hold]), mx.array(i2[~hold])
pop_top = np.argsort(-np.bincount(i1, minlength=N_ITEMS))[:10]
pop_rec = float(np.isin(i2[hold], pop_top).mean()) * 100
TOTAL, WARM, BATCH = 240, 30, 512
sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-2, WARM),
                              optim.cosine_decay(3e-2, TOTAL - WARM, 1e-3)], [WARM])


def build(seed):
    mx.random.seed(seed)
    m = Season2(600, packed, mx.array(s1.offset))
    m.freeze()
    m.users.unfreeze()
    m.unfreeze(keys=["offset"], recurse=False)
    return m, optim.Adam(learning_rate=sched)


def run(m, opt, start, stop):
    step = nn.value_and_grad(m, xent)
    acc = []
    for it in range(start, stop + 1):
        idx = mx.array(np.random.default_rng(500 + it).integers(0, fit_u.shape[0], BATCH))
        lr_now = float(opt.learning_rate.item()) if it > 1 else 0.0
        loss, g = step(m, fit_u[idx], fit_i[idx])
        if it == 1:
            n_leaves = len(tree_flatten(g))
            print(f"  step 1: {n_leaves} gradient arrays (users.weight, offset); lr used {lr_now:.1e}")
        opt.update(m, g)
        mx.eval(m.parameters(), opt.state, loss)
        acc.append(loss.item())
        if it % 30 == 0:
            print(f"  {it:>4} | lr {float(opt.learning_rate.item()):.2e} | xent {np.mean(acc):.3f} | "
                  f"held-out recall@10 {recall_at_10(m, u2[hold], i2[hold]):5.1f}% "
                  f"(popular-10 list {pop_rec:.1f}%)")
            acc = []


print(f"season 2, sitting 1 (warm-up from lr 0 over {WARM} steps):")
m2, opt2 = build(seed=21)
print(f"  untrained held-out recall@10 {recall_at_10(m2, u2[hold], i2[hold]):.1f}%")
run(m2, opt2, 1, TOTAL // 2)

with tempfile.TemporaryDirectory() as d:
    mx.save_safetensors(os.path.join(d, "w.safetensors"), dict(tree_flatten(m2.trainable_parameters())))
    mx.save_safetensors(os.path.join(d, "o.safetensors"), dict(tree_flatten(opt2.state)))
    ref = m2(mx.arange(8))
    mx.eval(ref)
    del m2, opt2
    m2, opt2 = build(seed=99)
    m2.update(tree_unflatten(list(mx.load(os.path.join(d, "w.safetensors")).items())))
    opt2.state = tree_unflatten(list(mx.load(os.path.join(d, "o.safetensors")).items()))
    drift = float(mx.max(mx.abs(m2(mx.arange(8)) - ref)).item())
    print(f"checkpoint reloaded into a fresh model: score drift {drift:.2e}, "
          f"optimizer step {int(opt2.state['step'].item())}")

print("season 2, sitting 2:")
run(m2, opt2, TOTAL // 2 + 1, TOTAL)
moved = max(float(np.abs(np.array(v) - snap[k]).max()) for k, v in tree_flatten(m2.products.parameters()))
print(f"packed product table change over season 2: {moved:.1e} (held frozen on purpose)")
print(f"final held-out recall@10 {recall_at_10(m2, u2[hold], i2[hold]):.1f}% vs popular-10 list {pop_rec:.1f}%")
