# Character window-MLP language model over synthetic Ogham stone inscriptions.
# Inscriptions come from a sparse order-2 Markov source, so the best possible
# validation perplexity is known exactly and printed as "floor".
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

LETTERS = ["B", "L", "F", "S", "N", "H", "D", "T", "C", "Q",
           "M", "G", "NG", "Z", "R", "A", "O", "U", "E", "I", "_"]
PAD, BOS, EOS = 0, 1, 2
V = len(LETTERS) + 3          # pad, bos, eos + letters/space
MAXLEN = 34

rng = np.random.default_rng(284)

# sparse order-2 source: each (prev2, prev1) context allows 3 next symbols
n_sym = len(LETTERS) + 1       # letters + end-of-stone
trans = np.zeros((n_sym + 1, n_sym + 1, n_sym))
for a in range(n_sym + 1):
    for b in range(n_sym + 1):
        allowed = rng.choice(n_sym, size=3, replace=False)
        trans[a, b, allowed] = rng.dirichlet([2.0, 1.0, 0.6])
START = n_sym                   # context index used before the first symbol
END = n_sym - 1                 # symbol index meaning end-of-stone


def carve(min_len=6):
    while True:
        a, b, seq, nll = START, START, [], 0.0
        for _ in range(MAXLEN - 1):
            p = trans[a, b]
            s = rng.choice(n_sym, p=p)
            nll -= math.log(p[s])
            seq.append(s)
            if s == END:
                break
            a, b = b, s
        if seq[-1] == END and len(seq) >= min_len:
            return seq, nll


def corpus(n):
    toks = np.zeros((n, MAXLEN + 1), dtype=np.int32)
    nll_sum, n_tok = 0.0, 0
    for i in range(n):
        seq, nll = carve()
        ids = [BOS] + [EOS if s == END else s + 3 for s in seq]
        toks[i, : len(ids)] = ids
        nll_sum += nll
        n_tok += len(seq)
    return toks, nll_sum / n_tok


train_np, _ = corpus(3000)
val_np, val_floor = corpus(300)
print(f"stones: train={len(train_np)} val={len(val_np)} vocab={V} "
      f"mean_len={np.mean((val_np[:, 1:] > 0).sum(1)):.1f}")

# count baselines on the validation targets
tgt = val_np[:, 1:].ravel()
tgt = tgt[tgt > 0]
tr_tgt = train_np[:, 1:].ravel()
tr_tgt = tr_tgt[tr_tgt > 0]
uni = np.bincount(tr_tgt, minlength=V) + 1.0
uni /= uni.sum()
uni_ppl = math.exp(-np.mean(np.log(uni[tgt])))
big = np.ones((V, V))
for row in train_np:
    for x, y in zip(row[:-1], row[1:]):
        if y > 0:
            big[x, y] += 1
big /= big.sum(1, keepdims=True)
lp = []
for row in val_np:
    for x, y in zip(row[:-1], row[1:]):
        if y > 0:
            lp.append(math.log(big[x, y]))
bi_ppl = math.exp(-np.mean(lp))
print(f"reference ppl: uniform={V - 1:.2f} unigram={uni_ppl:.2f} "
      f"bigram={bi_ppl:.2f} floor={math.exp(val_floor):.3f}")


class StoneLM(nn.Module):
    """Sliding-window neural LM: embeddings of the last K symbols -> MLP."""

    def __init__(self, vocab, K=3, dim=16, hidden=64, p=0.2):
        super().__init__()
        self.K = K
        self.emb = nn.Embedding(vocab, dim)
        self.drop_in = nn.Dropout(p)
        self.fc1 = nn.Linear(K * dim, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.drop_out = nn.Dropout(p)
        self.head = nn.Linear(hidden, vocab)

    def __call__(self, x):
        T = x.shape[1]
        xp = mx.pad(x, [(0, 0), (self.K - 1, 0)])
        ctx = [xp[:, self.K - 1 - j : self.K - 1 - j + T] for j in range(self.K)]
        e = mx.concatenate([self.emb(c) for c in ctx], axis=-1)
        h = nn.gelu(self.fc1(self.drop_in(e)))
        h = nn.gelu(self.fc2(h))
        return self.head(self.drop_out(h))


def token_nll(model, batch):
    x, y = batch[:, :-1], batch[:, 1:]
    logits = model(x)
    mask = (y > 0).astype(mx.float32)
    ce = nn.losses.cross_entropy(logits, y, reduction="none") * mask
    return ce.sum(), mask.sum()


def loss_fn(model, batch):
    s, n = token_nll(model, batch)
    return s / n


def val_ppl(model, data, bs=300):
    was_training = model.training
    model.eval()
    tot, cnt = 0.0, 0.0
    for i in range(0, len(data), bs):
        s, n = token_nll(model, data[i : i + bs])
        mx.eval(s, n)
        tot += s.item()
        cnt += n.item()
    model.train(was_training)
    return math.exp(tot / cnt)


mx.random.seed(284)
model = StoneLM(V)
mx.eval(model.parameters())
shadow = StoneLM(V)
shadow.update(tree_map(lambda p: p, model.parameters()))
mx.eval(shadow.parameters())

STEPS, WARM, BS = 500, 60, 32
warm = optim.linear_schedule(0.0, 3e-3, WARM)
decay = optim.cosine_decay(3e-3, STEPS - WARM, 2e-4)
sched = optim.join_schedules([warm, decay], [WARM])
opt = optim.Adam(learning_rate=sched)
lg = nn.value_and_grad(model, loss_fn)
train_x = mx.array(train_np)
val_x = mx.array(val_np)
EMA = 0.95

n_params = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"params={n_params} steps={STEPS} warmup={WARM} batch={BS} ema={EMA}")
print(f"{'step':>5} {'lr':>9} {'train_ppl':>9} {'val_ppl':>8} "
      f"{'ema_ppl':>8} {'floor':>6} {'gap%':>6}")

model.train()
t0 = time.time()
run, seen = 0.0, 0
order = rng.permutation(len(train_np))
cur = 0
for step in range(STEPS + 1):
    if step % 100 == 0:
        lr_now = sched(step).item()
        tr = math.exp(run / seen) if seen else float("nan")
        vp = val_ppl(model, val_x)
        ep = val_ppl(shadow, val_x)
        fl = math.exp(val_floor)
        print(f"{step:5d} {lr_now:9.2e} {tr:9.3f} {vp:8.3f} {ep:8.3f} "
              f"{fl:6.3f} {100 * (vp / fl - 1):6.1f}")
        run, seen = 0.0, 0
    if step == STEPS:
        break
    if cur + BS > len(order):
        order = rng.permutation(len(train_np))
        cur = 0
    idx = mx.array(order[cur : cur + BS])
    cur += BS
    loss, grads = lg(model, train_x[idx])
    opt.update(model, grads)
    shadow.update(tree_map(lambda s, p: EMA * s + (1 - EMA) * p,
                           shadow.parameters(), model.parameters()))
    mx.eval(model.parameters(), opt.state, shadow.parameters(), loss)
    run += loss.item()
    seen += 1

final = val_ppl(model, val_x)
final_ema = val_ppl(shadow, val_x)
print(f"done in {time.time() - t0:.1f}s: val_ppl={final:.3f} ema_val_ppl={final_ema:.3f} "
      f"floor={math.exp(val_floor):.3f} bigram={bi_ppl:.2f} "
      f"mode_restored={model.training}")
