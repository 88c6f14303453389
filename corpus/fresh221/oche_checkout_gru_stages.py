# Darts checkout caller: learn to call a 1-3 dart finish for a remaining score
# (2..170) with a small GRU decoder, trained stage by stage (low finishes first).
# Every few hundred steps the model is asked to *generate* its checkouts greedily
# and the calls are scored with the real darts rules (sum must hit the score,
# last dart must be a double or the bull).
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(11)

# ---- dart vocabulary -------------------------------------------------------
DARTS = []          # (name, points, is_double)
for k in range(20, 0, -1):
    DARTS.append((f"T{k}", 3 * k, False))
for k in range(20, 0, -1):
    DARTS.append((f"S{k}", k, False))
DARTS.append(("SB", 25, False))
for k in range(20, 0, -1):
    DARTS.append((f"D{k}", 2 * k, True))
DARTS.append(("DB", 50, True))
BOS = len(DARTS)
EOS = BOS + 1
VOCAB = EOS + 1
POINTS = [p for _, p, _ in DARTS]
DOUBLES = [i for i, (_, _, d) in enumerate(DARTS) if d]
# preferred finishing doubles: D20, D16, D18, D10, D8, ... then the rest
fav = ["D20", "D16", "D18", "D12", "D10", "D8", "D4", "D2", "D1", "DB"]
names = [n for n, _, _ in DARTS]
DOUBLE_ORDER = [names.index(f) for f in fav] + [i for i in DOUBLES if names[i] not in fav]


def checkout(score):
    for i in DOUBLE_ORDER:
        if POINTS[i] == score:
            return [i]
    for a in range(len(DARTS)):
        for i in DOUBLE_ORDER:
            if POINTS[a] + POINTS[i] == score:
                return [a, i]
    for a in range(len(DARTS)):
        for b in range(len(DARTS)):
            for i in DOUBLE_ORDER:
                if POINTS[a] + POINTS[b] + POINTS[i] == score:
                    return [a, b, i]
    return None


TABLE = {}
for s in range(2, 171):
    c = checkout(s)
    if c is not None:
        TABLE[s] = c
print(f"{len(TABLE)} finishable scores; e.g. 170 -> {' '.join(names[i] for i in TABLE[170])}, "
      f"121 -> {' '.join(names[i] for i in TABLE[121])}, 32 -> {names[TABLE[32][0]]}")

L = 4  # up to 3 darts + EOS


def make_batch(scores):
    inp, tgt, msk = [], [], []
    for s in scores:
        seq = TABLE[s] + [EOS]
        x = [BOS] + seq[:-1]
        pad = L - len(seq)
        inp.append(x + [EOS] * pad)
        tgt.append(seq + [EOS] * pad)
        msk.append([1.0] * len(seq) + [0.0] * pad)
    return (mx.array(scores), mx.array(inp), mx.array(tgt), mx.array(msk))


class Caller(nn.Module):
    def __init__(self, hid=96):
        super().__init__()
        self.score_emb = nn.Embedding(171, hid)
        self.dart_emb = nn.Embedding(VOCAB, 32)
        self.gru = nn.GRU(32, hid)
        self.out = nn.Linear(hid, VOCAB)

    def __call__(self, scores, inp, h0=None):
        if h0 is None:
            h0 = mx.tanh(self.score_emb(scores))
        h = self.gru(self.dart_emb(inp), hidden=h0)
        return self.out(h), h[:, -1]


def loss_fn(model, scores, inp, tgt, msk):
    logits, _ = model(scores, inp)
    ce = nn.losses.cross_entropy(logits, tgt, reduction="none")
    return (ce * msk).sum() / msk.sum()


def call_darts(model, scores):
    """greedy generation, carrying the GRU state dart by dart"""
    s = mx.array(scores)
    tok = mx.full((len(scores), 1), BOS, dtype=mx.int32)
    h = None
    out = []
    for _ in range(L):
        logits, h = model(s, tok, h0=h)
        tok = mx.argmax(logits[:, -1], axis=-1)[:, None]
        out.append(tok)
    seqs = mx.concatenate(out, axis=1).tolist()
    ok = exact = 0
    for sc, q in zip(scores, seqs):
        darts = []
        for t in q:
            if t >= BOS:
                break
            darts.append(t)
        if darts and sum(POINTS[d] for d in darts) == sc and darts[-1] in DOUBLES and len(darts) <= 3:
            ok += 1
        if darts == TABLE[sc]:
            exact += 1
    return 100.0 * ok / len(scores), 100.0 * exact / len(scores)


model = Caller()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=0.0)
step_fn = nn.value_and_grad(model, loss_fn)

STAGES = [("low finishes", 40, 100), ("mid finishes", 100, 140), ("full board", 170, 220)]
PEAK = 6e-3
BS = 32
t0 = time.time()
for name, top, steps in STAGES:
    pool = [s for s in TABLE if s <= top]
    pool_arr = mx.array(pool)
    warm = 20
    print(f"== stage '{name}': scores 2..{top} ({len(pool)} finishes), {steps} steps, lr 0 -> {PEAK:g} over {warm}")
    run = 0.0
    for it in range(1, steps + 1):
        lr = PEAK * min(1.0, (it - 1) / warm)   # first step of each stage at exactly 0
        opt.learning_rate = lr
        idx = mx.random.randint(0, len(pool), (BS,))
        sc = pool_arr[idx].tolist()
        batch = make_batch(sc)
        loss, grads = step_fn(model, *batch)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run = loss.item() if it == 1 else 0.9 * run + 0.1 * loss.item()
        if it == 1 or it % 25 == 0 or it == steps:
            bar = "#" * int(20 * it / steps)
            print(f"  {name[:4]} {it:4d}/{steps} |{bar:<20}| ce {run:.4f} lr {lr:.2e} {time.time() - t0:5.1f}s")
    valid, exact = call_darts(model, sorted(pool))
    allv, alle = call_darts(model, sorted(TABLE))
    print(f"   generated calls  stage-pool: valid {valid:5.1f}%  same-as-table {exact:5.1f}% | "
          f"whole board: valid {allv:5.1f}%  same {alle:5.1f}%  (random caller ~0%)")

print("reference table:", ", ".join(
    f"{s}:{'-'.join(names[d] for d in TABLE[s])}" for s in (170, 141, 100, 61, 36)))
v, e = call_darts(model, sorted(TABLE))
print(f"done in {time.time() - t0:.1f}s  valid={v:.1f}%  exact={e:.1f}%")
