# Cargo-manifest extraction: a tiny causal transformer learns to turn a shuffled
# free-text line ("qty 3 port oslo kind reefer ...") into a canonical-order record
# "{ kind : reefer , port : oslo , qty : 3 }".  Loss only on the record tokens.
# Evaluation decodes greedily twice: free, and with a schema mask that only
# allows tokens legal at each record position.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
mx.random.seed(7)

FIELDS = {"kind": ["reefer", "tank", "dry", "flat"],
          "port": ["oslo", "riga", "gdansk", "aarhus", "kiel"],
          "qty": [str(i) for i in range(1, 10)],
          "hold": ["fore", "mid", "aft"]}
KEYS = list(FIELDS)
SPECIAL = ["<pad>", "<sep>", "<eos>", "{", "}", ":", ","]
NOISE = ["please", "load", "the", "for", "at", "asap", "ok"]
VOCAB = SPECIAL + KEYS + sorted({v for vs in FIELDS.values() for v in vs}) + NOISE
TOK = {w: i for i, w in enumerate(VOCAB)}
PAD, SEP, EOS = TOK["<pad>"], TOK["<sep>"], TOK["<eos>"]
MAXLEN = 40


def make_example():
    rec = {k: rng.choice(FIELDS[k]) for k in KEYS}
    parts = [[k, rec[k]] for k in KEYS]
    rng.shuffle(parts)
    words = []
    for p in parts:
        if rng.random() < 0.4:
            words.append(rng.choice(NOISE))
        words += p
    target = ["{"]
    for i, k in enumerate(KEYS):
        target += [k, ":", rec[k]] + (["," ] if i < len(KEYS) - 1 else [])
    target += ["}", "<eos>"]
    return [TOK[w] for w in words], [TOK[w] for w in target]


def build(n):
    X = np.full((n, MAXLEN), PAD, np.int32)
    M = np.zeros((n, MAXLEN), np.float32)
    prompts, targets = [], []
    for r in range(n):
        p, t = make_example()
        seq = p + [SEP] + t
        X[r, :len(seq)] = seq
        # position j predicts token j+1; supervise the record tokens only
        M[r, len(p):len(seq) - 1] = 1.0
        prompts.append(p)
        targets.append(t)
    return X, M, prompts, targets


class TinyLM(nn.Module):
    def __init__(self, vocab, dim=64, layers=1, heads=4):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.pos = nn.Embedding(MAXLEN, dim)
        self.blocks = nn.TransformerEncoder(layers, dim, heads, mlp_dims=4 * dim)
        self.out = nn.Linear(dim, vocab)

    def __call__(self, x):
        L = x.shape[1]
        h = self.emb(x) + self.pos(mx.arange(L))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        return self.out(self.blocks(h, mask))


def loss_fn(model, X, M):
    logits = model(X[:, :-1])
    ce = nn.losses.cross_entropy(logits, X[:, 1:], reduction="none")
    m = M[:, :-1]
    return (ce * m).sum() / m.sum()


def schema_allowed(step):
    # record layout: { k0 : v0 , k1 : v1 , ... } <eos>
    if step == 0:
        return [TOK["{"]]
    j = step - 1
    per = 4
    if j >= per * len(KEYS) - 1:
        return [TOK["}"]] if j == per * len(KEYS) - 1 else [EOS]
    f, r = divmod(j, per)
    if r == 0:
        return [TOK[KEYS[f]]]
    if r == 1:
        return [TOK[":"]]
    if r == 2:
        return [TOK[v] for v in FIELDS[KEYS[f]]]
    return [TOK[","]]


def decode(model, prompts, constrained):
    n = len(prompts)
    rows = [p + [SEP] for p in prompts]
    outs = [[] for _ in range(n)]
    tlen = 4 * len(KEYS) + 2
    for step in range(tlen):
        L = max(len(r) for r in rows)
        X = np.full((n, L), PAD, np.int32)
        for i, r in enumerate(rows):
            X[i, :len(r)] = r
        logits = model(mx.array(X))
        last = np.array(logits[mx.arange(n), mx.array([len(r) - 1 for r in rows])])
        if constrained:
            allow = np.full(len(VOCAB), -1e9, np.float32)
            allow[schema_allowed(step)] = 0.0
            last = last + allow
        nxt = last.argmax(-1)
        for i in range(n):
            rows[i].append(int(nxt[i]))
            outs[i].append(int(nxt[i]))
    return outs


def parse(tokens):
    words = [VOCAB[t] for t in tokens]
    if "<eos>" in words:
        words = words[:words.index("<eos>")]
    if len(words) < 2 or words[0] != "{" or words[-1] != "}":
        return None
    body = " ".join(words[1:-1]).split(" , ")
    rec = {}
    for item in body:
        kv = item.split(" : ")
        if len(kv) != 2 or kv[0] not in FIELDS or kv[1] not in FIELDS[kv[0]]:
            return None
        rec[kv[0]] = kv[1]
    return rec if set(rec) == set(KEYS) else None


def evaluate(model, prompts, targets, constrained):
    outs = decode(model, prompts, constrained)
    valid = exact = 0
    for o, t in zip(outs, targets):
        rec = parse(o)
        if rec is not None:
            valid += 1
            exact += int(rec == parse(t))
    return valid / len(outs), exact / len(outs)


Xtr, Mtr, _, _ = build(2000)
Xva, Mva, pva, tva = build(60)
model = TinyLM(len(VOCAB))
mx.eval(model.parameters())

STEPS, WARM, BS = 60, 10, 32
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, WARM), optim.cosine_decay(2e-3, STEPS - WARM, 1e-4)], [WARM])
opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)
step_fn = nn.value_and_grad(model, loss_fn)

# baseline: record-token loss of always predicting the marginal distribution
counts = np.bincount(Xtr[:, 1:][Mtr[:, :-1] > 0], minlength=len(VOCAB)) + 1e-9
p = counts / counts.sum()
print(f"unigram baseline record loss: {-(p * np.log(p)).sum():.3f}")

va0, ex0 = evaluate(model, pva[:20], tva[:20], constrained=True)
print(f"before training: constrained valid {va0:.2f} exact {ex0:.2f}")

t0 = time.time()
for it in range(1, STEPS + 1):
    idx = rng.integers(0, len(Xtr), BS)
    loss, grads = step_fn(model, mx.array(Xtr[idx]), mx.array(Mtr[idx]))
    grads, gnorm = optim.clip_grad_norm(grads, 1.0)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if it == 1 or it % 10 == 0:
        vl = loss_fn(model, mx.array(Xva), mx.array(Mva)).item()
        print(f"step {it:4d} lr {opt.learning_rate.item():.2e} train {loss.item():.3f} "
              f"val {vl:.3f} gnorm {gnorm.item():.2f}")

fv, fe = evaluate(model, pva, tva, constrained=False)
cv, ce_ = evaluate(model, pva, tva, constrained=True)
print(f"free decoding:        valid {fv:.3f} exact {fe:.3f}")
print(f"schema-mask decoding: valid {cv:.3f} exact {ce_:.3f}")
print(f"done in {time.time() - t0:.1f}s")
