"""Harbour pilot roster recall.

Each sample lists 6 (berth, pilot) pairs from the day's roster, then asks
"who is on berth X?".  A 2-block decoder with grouped-query attention
(4 query heads sharing 2 key/value heads, passed un-tiled to the fused
attention kernel) and rotary positions learns to answer.  The report is
written as a Cabrillo-style contest log, one QSO line per report.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

N_BERTH = 12
N_PILOT = 12
PAIRS = 6
ASK = N_PILOT                    # the "?" pilot slot
SEQ = PAIRS + 1                  # roster lines, then the question


def make_batch(bs):
    """One roster line per position: berth id and pilot id share a slot.

    The last slot carries the berth being asked about and the "?" pilot.
    """
    berths = mx.argsort(mx.random.uniform(shape=(bs, N_BERTH)), axis=1)[:, :PAIRS]
    pilots = mx.random.randint(0, N_PILOT, (bs, PAIRS))
    pick = mx.random.randint(0, PAIRS, (bs,))
    rows = mx.arange(bs)
    asked = berths[rows, pick]
    answer = pilots[rows, pick]
    b_col = mx.concatenate([berths, asked[:, None]], axis=1)
    ask = mx.full((bs, 1), ASK, dtype=pilots.dtype)
    p_col = mx.concatenate([pilots, ask], axis=1)
    return b_col, p_col, answer


class GQABlock(nn.Module):
    def __init__(self, dim, n_q, n_kv):
        super().__init__()
        self.n_q, self.n_kv, self.hd = n_q, n_kv, dim // n_q
        self.norm1 = nn.RMSNorm(dim)
        self.wq = nn.Linear(dim, n_q * self.hd, bias=False)
        self.wk = nn.Linear(dim, n_kv * self.hd, bias=False)
        self.wv = nn.Linear(dim, n_kv * self.hd, bias=False)
        self.wo = nn.Linear(n_q * self.hd, dim, bias=False)
        self.rope = nn.RoPE(self.hd)
        self.norm2 = nn.RMSNorm(dim)
        self.up = nn.Linear(dim, 4 * dim)
        self.down = nn.Linear(4 * dim, dim)

    def __call__(self, x):
        B, L, _ = x.shape
        h = self.norm1(x)
        q = self.wq(h).reshape(B, L, self.n_q, self.hd).transpose(0, 2, 1, 3)
        k = self.wk(h).reshape(B, L, self.n_kv, self.hd).transpose(0, 2, 1, 3)
        v = self.wv(h).reshape(B, L, self.n_kv, self.hd).transpose(0, 2, 1, 3)
        q, k = self.rope(q), self.rope(k)
        o = mx.fast.scaled_dot_product_attention(
            q, k, v, scale=1.0 / math.sqrt(self.hd), mask="causal")
        x = x + self.wo(o.transpose(0, 2, 1, 3).reshape(B, L, -1))
        return x + self.down(nn.silu(self.up(self.norm2(x))))


class RosterNet(nn.Module):
    def __init__(self, dim=32):
        super().__init__()
        self.berth_emb = nn.Embedding(N_BERTH, dim)
        self.pilot_emb = nn.Embedding(N_PILOT + 1, dim)
        self.blocks = [GQABlock(dim, 4, 2) for _ in range(2)]
        self.norm = nn.RMSNorm(dim)
        self.head = nn.Linear(dim, N_PILOT)

    def __call__(self, b_col, p_col):
        x = self.berth_emb(b_col) + self.pilot_emb(p_col)
        for b in self.blocks:
            x = b(x)
        return self.head(self.norm(x[:, -1]))


def loss_fn(model, b_col, p_col, answer):
    logits = model(b_col, p_col)
    return nn.losses.cross_entropy(logits, answer, reduction="mean")


def accuracy(model, n=256):
    b_col, p_col, answer = make_batch(n)
    pred = mx.argmax(model(b_col, p_col), axis=1)
    return (pred == answer).astype(mx.float32).mean().item()


mx.random.seed(7)
model = RosterNet()
mx.eval(model.parameters())
STEPS, WARM, ACCUM, BS = 500, 40, 2, 32
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, WARM), optim.cosine_decay(3e-3, STEPS - WARM, 2e-4)],
    [WARM])
opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)
grad_fn = nn.value_and_grad(model, loss_fn)

chance_ce = math.log(N_PILOT)
print("START-OF-LOG: 3.0")
print("CONTEST: PILOT-ROSTER-RECALL")
print(f"SOAPBOX: pairs={PAIRS} berths={N_BERTH} pilots={N_PILOT} seq={SEQ} "
      f"params={sum(v.size for _, v in tree_flatten(model.parameters()))}")
print(f"SOAPBOX: chance ce {chance_ce:.3f} nats, chance recall {100.0 / N_PILOT:.2f}%")
print(f"SOAPBOX: optimizer step every {ACCUM} micro-batches of {BS}; lr ramps from 0")

t0 = time.time()
running = []
report_at = {1, 2, 40, 100, 200, 300, 400, 500}
for step in range(1, STEPS + 1):
    acc = None
    total = 0.0
    for _ in range(ACCUM):
        b_col, p_col, answer = make_batch(BS)
        loss, g = grad_fn(model, b_col, p_col, answer)
        acc = g if acc is None else tree_map(mx.add, acc, g)
        total = total + loss
    acc = tree_map(lambda a: a / ACCUM, acc)
    lr_used = opt.learning_rate.item()
    opt.update(model, acc)
    mx.eval(model.parameters(), opt.state, total)
    running.append(total.item() / ACCUM)
    if step in report_at:
        ce = sum(running) / len(running)
        running = []
        rec = 100.0 * accuracy(model)
        print(f"QSO: {step:5d} lr {lr_used:.2e} ce {ce:7.4f} recall {rec:6.2f}% "
              f"chance {100.0 / N_PILOT:5.2f}% t {time.time() - t0:6.1f}s")

final = 100.0 * accuracy(model, 1024)
print(f"SOAPBOX: final held-out recall {final:.2f}% on 1024 fresh rosters")
print("END-OF-LOG:")
