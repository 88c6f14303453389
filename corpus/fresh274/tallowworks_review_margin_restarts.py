# Candle-maker's shop: train a reward model on customer candle reviews. Each pair
# of short reviews (token sequences) comes with which one the shop staff preferred
# and how sure they were (0 = barely .. 3 = clearly). The Bradley-Terry loss
# subtracts a confidence margin. Cosine schedule with warm restarts (SGDR).
# Progress is logged as mean log-likelihood per pair (negative, rising to 0).
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(5)
mx.random.seed(5)

VOCAB, MAXLEN, PAD = 40, 10, 0
tok_val = rng.normal(scale=0.6, size=VOCAB).astype(np.float32); tok_val[PAD] = 0.0
def make_reviews(n):
    lens = rng.integers(3, MAXLEN + 1, n)
    seqs = np.zeros((n, MAXLEN), np.int32)
    util = np.zeros(n, np.float32)
    for k in range(n):
        t = rng.integers(1, VOCAB, lens[k])
        seqs[k, :lens[k]] = t
        v = tok_val[t]
        util[k] = v.mean() * 2.0 + (0.8 if (t == 7).any() and (t == 23).any() else 0.0)
    return seqs, lens.astype(np.int32), util

def make_pairs(n):
    a, la, ua = make_reviews(n)
    b, lb, ub = make_reviews(n)
    d = ua - ub + rng.logistic(scale=0.35, size=n)
    a_wins = d > 0
    ch = np.where(a_wins[:, None], a, b); rj = np.where(a_wins[:, None], b, a)
    lch = np.where(a_wins, la, lb); lrj = np.where(a_wins, lb, la)
    conf = np.digitize(np.abs(d), [0.3, 0.8, 1.5]).astype(np.int32)
    return ch, lch, rj, lrj, conf, np.where(a_wins, ua, ub), np.where(a_wins, ub, ua)

tr = make_pairs(12000)
va = make_pairs(1000)
MARGINS = mx.array([0.0, 0.25, 0.6, 1.2])
print(f"pairs: train {len(tr[0])}, val {len(va[0])}; confidence counts {np.bincount(tr[4]).tolist()}")

class ReviewReward(nn.Module):
    def __init__(self, dim=16):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, dim)
        self.pool_gate = nn.Linear(dim, 1)
        self.out = nn.Sequential(nn.Linear(2 * dim, 32), nn.GELU(), nn.Linear(32, 1))

    def __call__(self, seqs, lens):
        h = self.emb(seqs)
        mask = (mx.arange(seqs.shape[1])[None, :] < lens[:, None])
        maskf = mask.astype(h.dtype)[..., None]
        mean = (h * maskf).sum(axis=1) / maskf.sum(axis=1)
        gate = mx.where(mask[..., None], self.pool_gate(h), -1e9)
        att = mx.softmax(gate, axis=1)
        attn_pool = (att * h).sum(axis=1)
        return self.out(mx.concatenate([mean, attn_pool], axis=-1)).squeeze(-1)

def loss_fn(model, ch, lch, rj, lrj, conf):
    r_c = model(ch, lch)
    r_r = model(rj, lrj)
    return -nn.log_sigmoid(r_c - r_r - MARGINS[conf]).mean()

def val_metrics(model):
    r_c = np.array(model(mx.array(va[0]), mx.array(va[1])))
    r_r = np.array(model(mx.array(va[2]), mx.array(va[3])))
    d = r_c - r_r
    ll = float(np.mean(-np.logaddexp(0, -d)))
    acc = float(np.mean(d > 0))
    longer = float(np.mean(va[1] > va[3]) + 0.5 * np.mean(va[1] == va[3]))
    oracle = float(np.mean(va[5] > va[6]))
    return ll, acc, longer, oracle

CYCLES = [60, 120, 180]  # SGDR periods (steps)
PEAK, FLOOR, BS = 3e-3, 3e-5, 96
sched = []
for c in CYCLES:
    sched += [FLOOR + 0.5 * (PEAK - FLOOR) * (1 + np.cos(np.pi * t / c)) for t in range(c)]
TOTAL = len(sched)
restarts = set(np.cumsum(CYCLES)[:-1].tolist())

model = ReviewReward()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=PEAK, weight_decay=0.01)
step_fn = nn.value_and_grad(model, loss_fn)

ll, acc, longer, oracle = val_metrics(model)
print(f"init: val loglik/pair {ll:.4f} acc {acc:.3f} (longer-review rule {longer:.3f}, oracle {oracle:.3f})")
t0 = time.time()
for step in range(TOTAL):
    if step in restarts:
        print(f"-- warm restart at step {step}: lr back to {PEAK:.0e}")
    opt.learning_rate = sched[step]
    b = rng.choice(len(tr[0]), BS, replace=False)
    loss, g = step_fn(model, *(mx.array(x[b]) for x in tr[:5]))
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    # quiet through the long last cycle except its end
    report = (step + 1) % 30 == 0 and (step < sum(CYCLES[:2]) or step + 1 == TOTAL)
    if report:
        ll, acc, longer, oracle = val_metrics(model)
        print(f"step {step+1:4d} lr {sched[step]:.2e} margin-loss {loss.item():.4f} | "
              f"val loglik/pair {ll:.4f} acc {acc:.3f} (longer-review rule {longer:.3f}, oracle {oracle:.3f})")

ll, acc, longer, oracle = val_metrics(model)
print(f"done in {time.time()-t0:.1f}s: val loglik/pair {ll:.4f}, pair acc {acc:.3f} vs "
      f"longer-review rule {longer:.3f} and oracle {oracle:.3f}")
