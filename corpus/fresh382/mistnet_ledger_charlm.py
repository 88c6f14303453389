"""Bird-ringing station ledger: a character-level GRU language model over ledger
lines such as 'BLUTI F 5 11.2g W64'. Adam under a warm-up that starts at exactly
0, compiled step. After every second epoch the model writes 900 ledger lines one
character at a time (slow, nothing printed meanwhile) and they are parsed for
validity. Output: one RFC-822 style stanza per epoch."""
import re, time
from functools import partial
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

T0 = time.time()
rng = np.random.default_rng(31)
SPECIES = {"BLUTI": (9.5, 12.5, 60, 68), "GRETI": (16.0, 21.0, 70, 80), "ROBIN": (15.0, 21.0, 68, 77),
           "WREN.": (8.0, 11.0, 45, 51), "CHAFF": (19.0, 26.0, 82, 92), "BLACA": (15.0, 21.0, 70, 79),
           "CHIFF": (6.5, 9.5, 55, 64), "GOLDC": (4.8, 6.6, 51, 57)}
codes = list(SPECIES)


def record():
    sp = codes[rng.integers(len(codes))]
    lo, hi, wl, wh = SPECIES[sp]
    sex = "U" if sp in ("WREN.", "CHIFF", "GOLDC") else "MF"[rng.integers(2)]
    age = "3456"[rng.integers(4)]
    return f"{sp} {sex} {age} {rng.uniform(lo, hi):.1f}g W{rng.integers(wl, wh + 1)}"


VOCAB = sorted(set("".join(record() for _ in range(3000)) + "0123456789"))
BOS, EOS = len(VOCAB), len(VOCAB) + 1
STOI = {c: i for i, c in enumerate(VOCAB)}
ITOS = {i: c for c, i in STOI.items()}
MAXLEN = 24


def encode(lines):
    x = np.full((len(lines), MAXLEN + 1), EOS, np.int32)
    m = np.zeros((len(lines), MAXLEN), np.float32)
    for r, s in enumerate(lines):
        ids = [BOS] + [STOI[c] for c in s] + [EOS]
        x[r, :len(ids)] = ids
        m[r, :len(ids) - 1] = 1
    return x, m


train_x, train_m = encode([record() for _ in range(3200)])
valid_x, valid_m = encode([record() for _ in range(800)])
PAT = re.compile(r"^([A-Z.]{5}) ([MFU]) ([3-6]) (\d+\.\d)g W(\d\d)$")


def valid_line(s):
    m = PAT.match(s)
    if not m or m.group(1) not in SPECIES:
        return False
    lo, hi, wl, wh = SPECIES[m.group(1)]
    return lo <= float(m.group(4)) <= hi and wl <= int(m.group(5)) <= wh


class LedgerLM(nn.Module):
    def __init__(self, v, d=24, h=64):
        super().__init__()
        self.emb = nn.Embedding(v, d)
        self.gru = nn.GRU(d, h)
        self.out = nn.Linear(h, v)

    def __call__(self, x, hidden=None):
        hs = self.gru(self.emb(x), hidden=hidden)
        return self.out(hs), hs[:, -1, :]


mx.random.seed(5)
model = LedgerLM(len(VOCAB) + 2)
mx.eval(model.parameters())
STEPS_PER_EPOCH = len(train_x) // 64
sched = optim.join_schedules([optim.linear_schedule(0.0, 4e-3, 120),
                              optim.cosine_decay(4e-3, 6 * STEPS_PER_EPOCH - 120, 2e-4)], [120])
opt = optim.Adam(learning_rate=sched)


def loss_fn(m, x, mask):
    logits, _ = m(x[:, :-1])
    ce = nn.losses.cross_entropy(logits, x[:, 1:], reduction="none")
    return (ce * mask).sum() / mask.sum()


state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, mask):
    loss, g = nn.value_and_grad(model, loss_fn)(model, x, mask)
    opt.update(model, g)
    return loss


def sample_line(temp=0.8):
    tok = mx.array([[BOS]])
    h, out = None, []
    for _ in range(MAXLEN):
        logits, h = model(tok, hidden=h)
        nxt = mx.random.categorical(logits[:, -1, :] / temp).item()
        if nxt == EOS:
            break
        if nxt == BOS:
            continue
        out.append(ITOS[nxt])
        tok = mx.array([[nxt]])
    return "".join(out)


LN2 = np.log(2)
uni = np.bincount(train_x[:, 1:][train_m > 0], minlength=len(VOCAB) + 2) + 1
uni_bits = float(-(np.log(uni / uni.sum())[valid_x[:, 1:]] * valid_m).sum() / valid_m.sum() / LN2)
print(f"Run: ringing-ledger\nRecords: {len(train_x)} train, {len(valid_x)} valid\n"
      f"Vocabulary: {len(VOCAB)} symbols + BOS/EOS\nUnigram-Bits-Per-Char: {uni_bits:.3f}\n"
      f"Reference-Sample: {record()}\n", flush=True)
Vx, Vm = mx.array(valid_x), mx.array(valid_m)
Tx, Tm = mx.array(train_x), mx.array(train_m)
for epoch in range(1, 7):
    perm = rng.permutation(len(train_x))
    tot = []
    for j in range(STEPS_PER_EPOCH):
        idx = mx.array(perm[j * 64:(j + 1) * 64])
        loss = step(Tx[idx], Tm[idx])
        mx.eval(loss, state)
        tot.append(loss.item())
    vbits = loss_fn(model, Vx, Vm).item() / LN2
    lines = [f"Epoch: {epoch}", f"Steps: {epoch * STEPS_PER_EPOCH}",
             f"Learning-Rate: {opt.learning_rate.item():.2e}",
             f"Train-Bits-Per-Char: {np.mean(tot) / LN2:.3f}", f"Valid-Bits-Per-Char: {vbits:.3f}"]
    if epoch % 2 == 0:
        ts = time.time()
        samples = [sample_line() for _ in range(900)]
        ok = sum(valid_line(s) for s in samples)
        lines += [f"Sampled-Lines: {len(samples)}", f"Parse-Valid-Percent: {100 * ok / len(samples):.1f}",
                  f"Example: {samples[0]}", f"Sampling-Seconds: {time.time() - ts:.1f}"]
    lines.append(f"Elapsed: {time.time() - T0:.1f}")
    print("\n".join(lines) + "\n", flush=True)
print("Status: finished")
