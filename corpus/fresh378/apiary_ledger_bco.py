# Unpaired thumbs-up / thumbs-down tuning (BCO-style binary classifier objective)
# of a tiny apiary-ledger token policy against a frozen reference copy.
import copy, json, time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

V, L = 7, 7          # hive-frame codes 0..6, ledger length
mx.random.seed(11)

class Ledger(nn.Module):
    def __init__(self, d=40):
        super().__init__()
        self.emb = nn.Embedding(V + 1, d)
        self.pos = nn.Embedding(L, d)
        self.h = nn.Linear(d, 80)
        self.o = nn.Linear(80, V)
    def __call__(self, prev, pos):
        return self.o(nn.silu(self.h(self.emb(prev) + self.pos(pos))))

def shift(seqs):
    n = seqs.shape[0]
    return mx.concatenate([mx.full((n, 1), V, dtype=mx.int32), seqs[:, :-1]], axis=1)

def seq_logp(model, seqs):
    pos = mx.broadcast_to(mx.arange(L), seqs.shape)
    lp = nn.log_softmax(model(shift(seqs), pos), axis=-1)
    return mx.take_along_axis(lp, seqs[..., None], axis=-1).squeeze(-1).sum(axis=1)

def sample(model, n):
    prev = mx.full((n,), V, dtype=mx.int32); out = []
    for t in range(L):
        prev = mx.random.categorical(model(prev, mx.full((n,), t, dtype=mx.int32))).astype(mx.int32)
        out.append(prev)
    return mx.stack(out, axis=1)

def thumbs_up(seqs):  # a tidy ledger never steps down by more than one code
    return (mx.min(seqs[:, 1:] - seqs[:, :-1], axis=1) >= -1)

# warm-up on unfiltered ledgers (quiet)
policy = Ledger(); mx.eval(policy.parameters())
raw = mx.random.randint(0, V, (4000, L)).astype(mx.int32)
drift = mx.cumsum(mx.random.randint(-1, 2, (4000, L)), axis=1) + mx.random.randint(0, V, (4000, 1))
raw = mx.where(mx.random.uniform(shape=(4000, 1)) < 0.5, mx.clip(drift, 0, V - 1).astype(mx.int32), raw)
def nll(m, s): return -seq_logp(m, s).mean() / L
opt = optim.Adam(learning_rate=3e-3); g_nll = nn.value_and_grad(policy, nll)
for i in range(300):
    idx = mx.random.randint(0, raw.shape[0], (128,))
    loss, g = g_nll(policy, raw[idx]); opt.update(policy, g); mx.eval(policy.parameters(), opt.state)
print(json.dumps({"phase": "warmup", "steps": 300, "nll_per_token": round(loss.item(), 4)}))

reference = copy.deepcopy(policy); reference.freeze()
base_rate = thumbs_up(sample(reference, 4096)).astype(mx.float32).mean().item()
print(json.dumps({"phase": "reference", "thumbs_up_rate": round(base_rate, 4)}))

BETA, STEPS, B = 0.2, 240, 128
delta = mx.array(0.0)
def bco_loss(m, seqs, label, delta):
    r = BETA * (seq_logp(m, seqs) - mx.stop_gradient(seq_logp(reference, seqs)))
    sgn = mx.where(label, 1.0, -1.0)
    return -nn.log_sigmoid(sgn * (r - delta)).mean(), r
g_bco = nn.value_and_grad(policy, lambda m, s, y, d: bco_loss(m, s, y, d)[0])
sched = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, 30), optim.cosine_decay(2e-3, STEPS - 30, 1e-4)], [30])
opt = optim.AdamW(learning_rate=sched, weight_decay=0.0)
t0 = time.time()
for step in range(1, STEPS + 1):
    seqs = sample(policy, B)            # fresh unpaired feedback each step
    y = thumbs_up(seqs)
    _, r = bco_loss(policy, seqs, y, delta)
    delta = 0.9 * delta + 0.1 * mx.stop_gradient(r.mean())
    loss, g = g_bco(policy, seqs, y, delta)
    opt.update(policy, g)
    mx.eval(policy.parameters(), opt.state, loss, delta)
    if step == 1 or step % 40 == 0:
        yf = y.astype(mx.float32)
        up = (r * yf).sum() / mx.maximum(yf.sum(), 1); down = (r * (1 - yf)).sum() / mx.maximum((1 - yf).sum(), 1)
        print(json.dumps({"step": step, "bco_loss": round(loss.item(), 4), "lr": float(f"{opt.learning_rate.item():.3e}"),
                          "reward_up": round(up.item(), 3), "reward_down": round(down.item(), 3),
                          "delta": round(delta.item(), 3), "batch_up_rate": round(yf.mean().item(), 3)}))
rate = thumbs_up(sample(policy, 4096)).astype(mx.float32).mean().item()
print(json.dumps({"phase": "final", "thumbs_up_rate": round(rate, 4), "reference_rate": round(base_rate, 4),
                  "secs": round(time.time() - t0, 1)}))
