# Harbour pilot radio log: a character-level bigram-context LM over synthetic
# pilot call phrases. Logs token-weighted perplexity beside a unigram baseline
# and the generator's entropy floor. Gradient accumulation over 4 micro-batches,
# lr warm-up from exactly 0, then constant; silent between reports.
import math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
V, CTX = 12, 3
# Markov source over 12 symbols with order-1 transitions (constant, known entropy)
T = rng.dirichlet(np.full(V, 0.35), size=V)
stat = np.full(V, 1.0 / V)
for _ in range(500):
    stat = stat @ T
H_floor = float(-(stat[:, None] * T * np.log(T + 1e-12)).sum())

def sample(n, L):
    out = np.zeros((n, L), dtype=np.int32)
    out[:, 0] = rng.choice(V, size=n, p=stat)
    for t in range(1, L):
        cum = T[out[:, t - 1]].cumsum(1)
        u = rng.random((n, 1))
        out[:, t] = np.minimum((u > cum).sum(1), V - 1)
    return out

train = sample(3000, 33)
valid = sample(400, 33)
uni = np.bincount(train[:, CTX:].ravel(), minlength=V) / train[:, CTX:].size
uni_ppl = math.exp(float(-(np.log(uni[valid[:, CTX:].ravel()])).mean()))

class Tally(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, 16)
        self.mix = nn.Linear(16 * CTX, 64)
        self.out = nn.Linear(64, V)
    def __call__(self, ctx):
        e = self.emb(ctx).reshape(ctx.shape[0], -1)
        return self.out(nn.gelu(self.mix(e)))

def windows(seqs):
    X = np.stack([seqs[:, i:i + CTX] for i in range(seqs.shape[1] - CTX)], 1)
    Y = seqs[:, CTX:]
    return X.reshape(-1, CTX), Y.reshape(-1)

Xtr, Ytr = windows(train)
Xva, Yva = mx.array(windows(valid)[0]), mx.array(windows(valid)[1])
model = Tally()
mx.eval(model.parameters())
warm = 200
sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, warm),
                              lambda s: mx.array(3e-3)], [warm])
opt = optim.Adam(learning_rate=sched)

def loss_sum(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="sum")

vg = nn.value_and_grad(model, loss_sum)
ACC, MB = 4, 128
print(f"source entropy floor: {H_floor:.4f} nats  (ppl {math.exp(H_floor):.3f}); "
      f"unigram baseline ppl {uni_ppl:.3f}; windows {len(Ytr)}")
t0 = time.time()
nll_sum, tok = 0.0, 0
step = 0
for epoch in range(1, 7):
    perm = rng.permutation(len(Ytr))
    nb = len(perm) // (ACC * MB)
    for b in range(nb):
        acc_g, acc_l = None, mx.array(0.0)
        for k in range(ACC):
            idx = mx.array(perm[(b * ACC + k) * MB:(b * ACC + k + 1) * MB])
            l, g = vg(model, mx.array(Xtr)[idx], mx.array(Ytr)[idx])
            acc_l = acc_l + l
            acc_g = g if acc_g is None else nn.utils.tree_map(mx.add, acc_g, g)
        acc_g = nn.utils.tree_map(lambda a: a / (ACC * MB), acc_g)
        opt.update(model, acc_g)
        mx.eval(model.parameters(), opt.state, acc_l)
        nll_sum += acc_l.item(); tok += ACC * MB
        step += 1
    vl = nn.losses.cross_entropy(model(Xva), Yva, reduction="sum").item() / Yva.size
    acc = (mx.argmax(model(Xva), axis=1) == Yva).astype(mx.float32).mean().item()
    print(f"ep {epoch} step {step:4d} lr {float(opt.learning_rate):.2e} "
          f"train_ppl(run) {math.exp(nll_sum / tok):7.3f} valid_ppl {math.exp(vl):7.3f} "
          f"floor {math.exp(H_floor):.3f} uni {uni_ppl:.3f} top1 {100*acc:5.1f}% "
          f"{time.time()-t0:5.1f}s")
    nll_sum, tok = 0.0, 0
print(f"done: valid ppl {math.exp(vl):.3f} vs floor {math.exp(H_floor):.3f} "
      f"(gap {math.exp(vl)-math.exp(H_floor):+.3f})")
