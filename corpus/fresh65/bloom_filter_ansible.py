"""Learned Bloom filter: a tiny char-trigram model predicts set membership of
hostnames; a small backup filter catches its false negatives.  Output mimics an
ansible-playbook run."""
import time, random, zlib
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

random.seed(7); np.random.seed(7); mx.random.seed(7)
BUCKETS, MAXG = 512, 24
SYL = ["ka", "lo", "mi", "zen", "tor", "ra", "vu", "qi", "sha", "pe", "dun", "ix"]
TLD_IN, TLD_OUT = ["shop", "biz", "xyz"], ["org", "edu", "gov"]

def host(tlds, kind):
    n = random.randint(2, 4)
    w = "".join(random.choice(SYL) for _ in range(n))
    if kind:  # members: spammy shape (digits + dashes)
        w = w + "-" + str(random.randint(10, 999))
    return w + "." + random.choice(tlds)

def grams(s):
    s = "^" + s + "$"
    ids = [zlib.crc32(s[i:i + 3].encode()) % BUCKETS + 1 for i in range(len(s) - 2)][:MAXG]
    return ids + [0] * (MAXG - len(ids))

members = list({host(TLD_IN, 1) for _ in range(12000)})
others = list({host(TLD_OUT, random.random() < 0.3) for _ in range(12000)}
              | {host(TLD_IN, 0) for _ in range(6000)})
others = [o for o in others if o not in set(members)]
random.shuffle(others)
queries, negs = others[:1500], others[1500:]
X = np.array([grams(h) for h in members + negs], dtype=np.int32)
Y = np.array([1] * len(members) + [0] * len(negs), dtype=np.float32)
Q = mx.array(np.array([grams(h) for h in queries], dtype=np.int32))

class Gate(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(BUCKETS + 1, 24)
        self.l1 = nn.Linear(24, 32)
        self.out = nn.Linear(32, 1)
    def __call__(self, ids):
        m = (ids > 0).astype(mx.float32)[..., None]
        h = (self.emb(ids) * m).sum(1) / m.sum(1)
        return self.out(nn.relu(self.l1(h))).squeeze(-1)

model = Gate()
opt = optim.AdaDelta(learning_rate=1.0, rho=0.95)
def loss_fn(m, x, y):
    return nn.losses.binary_cross_entropy(m(x), y, with_logits=True, reduction="mean")
vg = nn.value_and_grad(model, loss_fn)

print("PLAY [learned bloom filter] " + "*" * 40)
xb, yb = mx.array(X[:64]), mx.array(Y[:64])
_, g0 = vg(model, xb, yb)
flat = tree_flatten(g0)
zero = [k for k, v in flat if float(mx.abs(v).max()) == 0.0]
print(f"\nTASK [gradient audit] " + "*" * 40)
print(f"ok: [trainer] => {{\"leaves\": {len(flat)}, \"zero_grad\": {zero}, \"keys\": {len(members)}, \"negatives\": {len(negs)}}}")

t0, B = time.time(), 64
for ep in range(1, 13):
    perm = np.random.permutation(len(X)); tot, nb = 0.0, 0
    for i in range(0, len(X) - B + 1, B):
        idx = perm[i:i + B]
        loss, g = vg(model, mx.array(X[idx]), mx.array(Y[idx]))
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item(); nb += 1
    p = mx.sigmoid(model(mx.array(X)))
    mx.eval(p)
    p = np.array(p)
    fnr = float(((p < 0.5) & (Y == 1)).mean() / (Y == 1).mean())
    fpr = float(np.array(mx.sigmoid(model(Q)) >= 0.5).mean())
    state = "changed" if ep == 1 else "ok"
    print(f"\nTASK [epoch {ep:02d}] " + "*" * 40)
    print(f"{state}: [trainer] => {{\"bce\": {tot/nb:.4f}, \"fnr_train\": {fnr:.4f}, \"fpr_query\": {fpr:.4f}, \"t\": {time.time()-t0:.1f}}}")

# backup filter for the model's false negatives (classic bloom, 7 hashes)
fn_keys = [h for h, pr in zip(members, p[:len(members)]) if pr < 0.5]
bits = max(64, len(fn_keys) * 10)
bf = np.zeros(bits, bool)
hs = lambda s: [zlib.crc32(f"{k}:{s}".encode()) % bits for k in range(7)]
for h in fn_keys:
    bf[hs(h)] = True
qp = np.array(mx.sigmoid(model(Q)))
fp = sum(1 for h, pr in zip(queries, qp) if pr >= 0.5 or bf[hs(h)].all())
assert all(bf[hs(h)].all() or pr >= 0.5 for h, pr in zip(members, p[:len(members)]))
print(f"\nTASK [assemble filter] " + "*" * 40)
print(f"ok: [trainer] => {{\"backup_keys\": {len(fn_keys)}, \"backup_bits\": {bits}, \"overall_fpr\": {fp/len(queries):.4f}, \"false_negatives\": 0}}")
print(f"\nPLAY RECAP " + "*" * 40)
print(f"trainer : ok={ep + 2} changed=1 unreachable=0 failed=0 skipped=0 rescued=0 ignored=0")
