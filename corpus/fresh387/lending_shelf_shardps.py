import time
import numpy as np
import mlx.core as mx

# Lending library: star ratings of titles by members; factor tables live on 4 server shards
rng = np.random.default_rng(11)
U, I, D, S = 800, 500, 8, 4
tu = rng.normal(0, 0.6, (U, 4)); ti = rng.normal(0, 0.6, (I, 4))
bu = rng.normal(0, 0.3, U); bi = rng.normal(0, 0.4, I)
n = 60000
uu = rng.integers(0, U, n); ii = rng.integers(0, I, n)
r = (3.4 + bu[uu] + bi[ii] + np.sum(tu[uu] * ti[ii], 1) + rng.normal(0, 0.5, n)).astype(np.float32)
tr, va = slice(0, 50000), slice(50000, n)
mu = float(r[tr].mean())

class Shard:
    def __init__(self, rows, dim, seed):
        k = mx.random.key(seed)
        self.emb = 0.05 * mx.random.normal((rows, dim), key=k)
        self.bias = mx.zeros((rows,))
        self.acc_e = mx.full((rows, dim), 1e-6); self.acc_b = mx.full((rows,), 1e-6)
        self.pushes = 0
    def pull(self, local):
        return self.emb[local], self.bias[local]
    def push(self, local, ge, gb, lr):
        self.acc_e[local] = self.acc_e[local] + ge * ge
        self.acc_b[local] = self.acc_b[local] + gb * gb
        self.emb[local] = self.emb[local] - lr * ge / mx.sqrt(self.acc_e[local])
        self.bias[local] = self.bias[local] - lr * gb / mx.sqrt(self.acc_b[local])
        self.pushes += 1

users = [Shard((U + S - 1 - s) // S, D, 100 + s) for s in range(S)]
items = [Shard((I + S - 1 - s) // S, D, 200 + s) for s in range(S)]

def pull(table, ids):
    E = [None] * len(ids); B = [None] * len(ids)
    parts = []
    for s in range(S):
        sel = np.nonzero(ids % S == s)[0]
        if len(sel):
            e, b = table[s].pull(mx.array(ids[sel] // S))
            parts.append((sel, e, b))
    order = np.concatenate([p[0] for p in parts])
    inv = mx.array(np.argsort(order))
    return mx.concatenate([p[1] for p in parts])[inv], mx.concatenate([p[2] for p in parts])[inv]

def push(table, ids, ge, gb, lr):
    for s in range(S):
        sel = np.nonzero(ids % S == s)[0]
        if len(sel):
            si = mx.array(sel)
            table[s].push(mx.array(ids[sel] // S), ge[si], gb[si], lr)

def loss_fn(Eu, Bu, Ei, Bi, pu, pi, rb):
    pred = mu + Bu[pu] + Bi[pi] + mx.sum(Eu[pu] * Ei[pi], -1)
    return mx.mean((pred - rb) ** 2) + 0.02 * (mx.mean(mx.sum(Eu ** 2, -1)) + mx.mean(mx.sum(Ei ** 2, -1)))

vg = mx.value_and_grad(loss_fn, argnums=(0, 1, 2, 3))

def rmse(sl):
    ids_u, ids_i = uu[sl], ii[sl]
    Eu, Bu = pull(users, np.arange(U)); Ei, Bi = pull(items, np.arange(I))
    p = mu + Bu[mx.array(ids_u)] + Bi[mx.array(ids_i)] + mx.sum(Eu[mx.array(ids_u)] * Ei[mx.array(ids_i)], -1)
    return float(np.sqrt(np.mean((np.array(p) - r[sl]) ** 2)))

base = float(np.sqrt(np.mean((mu - r[va]) ** 2)))
print(f"{n} ratings, {U} members x {I} titles, tables split over {S} shards (row id mod {S})")
print(f"reference: global-mean rmse {base:.3f}, rating noise sd 0.500")
print(f"{'epoch':>5} {'pushes':>7} {'train_rmse':>10} {'valid_rmse':>10} {'secs':>6}")
print(f"{0:>5} {0:>7} {rmse(tr):>10.3f} {rmse(va):>10.3f} {0.0:>6.1f}")
t0 = time.time(); B, LR = 500, 0.08
for epoch in range(1, 13):
    perm = rng.permutation(50000)
    for k in range(0, 50000, B):
        b = perm[k:k + B]
        uid, pu = np.unique(uu[b], return_inverse=True)
        iid, pi = np.unique(ii[b], return_inverse=True)
        Eu, Bu = pull(users, uid); Ei, Bi = pull(items, iid)
        l, (gEu, gBu, gEi, gBi) = vg(Eu, Bu, Ei, Bi, mx.array(pu), mx.array(pi), mx.array(r[b]))
        push(users, uid, gEu, gBu, LR); push(items, iid, gEi, gBi, LR)
        mx.eval([(t.emb, t.bias, t.acc_e, t.acc_b) for t in users + items])
    if epoch in (1, 2, 3, 6, 9, 12):
        print(f"{epoch:>5} {sum(t.pushes for t in users + items):>7} {rmse(tr):>10.3f} {rmse(va):>10.3f} {time.time()-t0:>6.1f}")
print("pushes per shard:", " ".join(f"u{s}={users[s].pushes}/i{s}={items[s].pushes}" for s in range(S)))
print(f"final valid rmse {rmse(va):.3f} (global mean {base:.3f})")
