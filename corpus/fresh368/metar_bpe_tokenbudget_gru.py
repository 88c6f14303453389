# Airfield weather reports (METAR-like strings): an in-script byte-pair tokenizer
# learned from the training text, a GRU language model over the merged tokens,
# TOKEN-BUDGET batching (rows sorted by length, each batch holds at most 640
# tokens, so the batch size varies), loss reported in bits per CHARACTER so it
# compares with a character unigram model. Adamax under a step-decay schedule.
import time, collections
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(11)
mx.random.seed(11)
STATIONS = ["EGLL", "EGKK", "LFPG", "EDDF", "EHAM", "EIDW", "LEMD", "LIRF"]

def report():
    st = STATIONS[rng.integers(len(STATIONS))]
    hh = int(rng.integers(24)); wd = int(rng.integers(36)) * 10
    ws = int(rng.integers(2, 30)); t = int(rng.integers(-5, 30)); dp = t - int(rng.integers(0, 9))
    vis = ["9999", "8000", "4000", "CAVOK"][rng.integers(4)]
    cl = "" if vis == "CAVOK" else " " + ["FEW", "SCT", "BKN", "OVC"][rng.integers(4)] + f"{int(rng.integers(5, 40)):03d}"
    tt = f"{t:02d}" if t >= 0 else f"M{-t:02d}"
    dd = f"{dp:02d}" if dp >= 0 else f"M{-dp:02d}"
    q = 1013 + int(rng.integers(-25, 25))
    return f"{st} {hh:02d}20Z {wd:03d}{ws:02d}KT {vis}{cl} {tt}/{dd} Q{q}"

train_txt = [report() for _ in range(3000)]
val_txt = [report() for _ in range(400)]

# byte-pair merges learned on the training reports
chars = sorted(set("".join(train_txt)))
vocab = ["<pad>", "<eos>"] + chars
seqs = [[vocab.index(c) for c in s] for s in train_txt]
merges = []
for _ in range(60):
    pc = collections.Counter()
    for s in seqs:
        pc.update(zip(s, s[1:]))
    (a, b), n = pc.most_common(1)[0]
    new = len(vocab); vocab.append(vocab[a] + vocab[b]); merges.append((a, b, new))
    out = []
    for s in seqs:
        r, i = [], 0
        while i < len(s):
            if i + 1 < len(s) and s[i] == a and s[i + 1] == b:
                r.append(new); i += 2
            else:
                r.append(s[i]); i += 1
        out.append(r)
    seqs = out

def encode(s):
    t = [vocab.index(c) for c in s]
    for a, b, new in merges:
        r, i = [], 0
        while i < len(t):
            if i + 1 < len(t) and t[i] == a and t[i + 1] == b:
                r.append(new); i += 2
            else:
                r.append(t[i]); i += 1
        t = r
    return t + [1]

tr = [encode(s) for s in train_txt]
va = [encode(s) for s in val_txt]
tr_chars = [len(s) + 1 for s in train_txt]   # characters + the end mark
va_chars = [len(s) + 1 for s in val_txt]
V = len(vocab)

def budget_batches(data, nchar, budget, shuffle):
    order = np.argsort([len(d) for d in data], kind="stable")
    groups, cur = [], []
    for i in order:
        if cur and (len(cur) + 1) * (len(data[i]) + 1) > budget:
            groups.append(cur); cur = []
        cur.append(i)
    if cur:
        groups.append(cur)
    if shuffle:
        rng.shuffle(groups)
    for g in groups:
        L = max(len(data[i]) for i in g) + 1
        x = np.zeros((len(g), L), np.int32)
        for r, i in enumerate(g):
            x[r, 1:len(data[i]) + 1] = data[i]
        x[:, 0] = 1   # rows start from the end mark of the previous report
        inp, tgt = x[:, :-1], x[:, 1:]
        w = np.zeros_like(tgt, np.float32)
        for r, i in enumerate(g):
            w[r, :len(data[i])] = 1.0
        yield mx.array(inp), mx.array(tgt), mx.array(w), sum(nchar[i] for i in g)

class ReportLM(nn.Module):
    def __init__(self, V, d=48, h=96):
        super().__init__()
        self.emb = nn.Embedding(V, d)
        self.rnn = nn.GRU(d, h)
        self.out = nn.Linear(h, V)
    def __call__(self, x):
        return self.out(self.rnn(self.emb(x)))

def nats_sum(model, x, y, w):
    return (nn.losses.cross_entropy(model(x), y) * w).sum()

def loss_fn(model, x, y, w):
    return nats_sum(model, x, y, w) / w.sum()

model = ReportLM(V)
opt = optim.Adamax(learning_rate=optim.step_decay(4e-3, 0.5, 150))
step_fn = nn.value_and_grad(model, loss_fn)

def eval_bpc():
    tot, nch = 0.0, 0
    for x, y, w, c in budget_batches(va, va_chars, 2000, False):
        tot += nats_sum(model, x, y, w).item(); nch += c
    return tot / nch / np.log(2)

cc = collections.Counter("".join(train_txt)); n_all = sum(cc.values()) + len(train_txt)
p = {k: v / n_all for k, v in cc.items()}; p_end = len(train_txt) / n_all
uni_bpc = -(sum(np.log2(p.get(ch, 1e-6)) for s in val_txt for ch in s) + len(val_txt) * np.log2(p_end)) / sum(va_chars)

tok_per_char = sum(len(t) for t in tr) / sum(tr_chars)
print(f"tokenizer: {V} symbols ({len(merges)} merges), {tok_per_char:.3f} tokens per character, "
      f"e.g. {[vocab[i] for i in tr[0][:8]]}")
print(f"char unigram reference: {uni_bpc:.3f} bits/char")
print(f"epoch 0: val {eval_bpc():.3f} bits/char  (untrained)")
t0, step = time.time(), 0
for epoch in range(1, 4):
    sizes, ep_n, ep_c = [], 0.0, 0
    for x, y, w, c in budget_batches(tr, tr_chars, 640, True):
        step += 1
        loss, g = step_fn(model, x, y, w)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        sizes.append(x.shape[0]); ep_n += loss.item() * float(w.sum().item()); ep_c += c
        if step <= 3:
            print(f"  step {step}: rows {x.shape[0]} x {x.shape[1]} tokens, loss {loss.item():.3f} nats/token")
    v = eval_bpc()
    print(f"epoch {epoch}: steps {step}, lr {float(opt.learning_rate):.1e}, batch rows {min(sizes)}..{max(sizes)}, "
          f"train {ep_n / ep_c / np.log(2):.3f} bits/char, val {v:.3f} bits/char, "
          f"gain over unigram {uni_bpc - v:+.3f}, {time.time() - t0:.1f}s", flush=True)

# greedy continuation after a station code
seed = encode("EDDF ")[:-1]
x = [1] + seed
for _ in range(20):
    nxt = int(mx.argmax(model(mx.array([x]))[0, -1]).item())
    if nxt == 1:
        break
    x.append(nxt)
print("sample:", "".join(vocab[i] for i in x[1:]))
