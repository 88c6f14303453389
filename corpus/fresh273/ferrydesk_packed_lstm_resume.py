# Ferry-desk chat assistant: completion-only SFT of a tiny LSTM on packed dialogues,
# with a checkpoint written mid-run and training resumed from it in a fresh process state.
import math, os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

PAD, USR, AST, EOS, PLEASE = 0, 1, 2, 3, 4
PORT0, HOUR0, BOAT0 = 5, 13, 25
DEP, BOAT = 27, 28
VOCAB = 29
ROW = 30
rng = np.random.default_rng(7)
TIMETABLE = np.random.default_rng(5).integers(0, 12, size=(6, 6))

def dialogue(r):
    a, b = r.integers(0, 6, size=2)
    hour = int(TIMETABLE[a, b])
    user = [USR, PORT0 + int(a), PORT0 + int(b)] + ([PLEASE] if r.random() < 0.4 else [])
    reply = [AST, DEP, HOUR0 + hour, BOAT, BOAT0 + int(r.integers(0, 2)), EOS]
    return user + reply

def pack_rows(n_rows, r):
    rows = []
    cur = []
    while len(rows) < n_rows:
        d = dialogue(r)
        if len(cur) + len(d) > ROW:
            rows.append(cur + [PAD] * (ROW - len(cur)))
            cur = []
        cur = cur + d
    return np.array(rows, dtype=np.int32)

def assistant_mask(rows):
    m = np.zeros_like(rows, dtype=np.float32)
    for i in range(rows.shape[0]):
        inside = False
        for j in range(rows.shape[1]):
            t = rows[i, j]
            if inside:
                m[i, j] = 1.0
            if t == AST:
                inside = True
            elif t == EOS:
                inside = False
    return m

class DeskLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, 48)
        self.rnn = nn.LSTM(48, 64)
        self.out = nn.Linear(64, VOCAB)
    def __call__(self, x):
        h, _ = self.rnn(self.emb(x))
        return self.out(h)

def loss_fn(model, x, y, m):
    ce = nn.losses.cross_entropy(model(x), y, reduction="none")
    return (ce * m).sum() / m.sum()

TOTAL, WARM, SPLIT, BS = 300, 40, 150, 32
def lr_at(step):
    if step < WARM:
        return 8e-3 * step / WARM
    p = (step - WARM) / (TOTAL - WARM)
    return 5e-4 + 0.5 * (8e-3 - 5e-4) * (1 + math.cos(math.pi * p))

train_rows = pack_rows(1200, rng)
train_mask = assistant_mask(train_rows)
print(f"packed {len(train_rows)} rows of {ROW} tokens, assistant tokens per row {train_mask[:, 1:].sum(1).mean():.1f}")
# unigram baseline on assistant targets
tgt = train_rows[:, 1:][train_mask[:, 1:] > 0]
freq = np.bincount(tgt, minlength=VOCAB) / len(tgt)
base = -np.mean(np.log(freq[tgt]))
floor = math.log(2) / 5
print(f"baseline (unigram over reply tokens) {base:.3f}   irreducible floor ~{floor:.3f}")

def run(model, opt, start, stop, tag):
    step_fn = nn.value_and_grad(model, loss_fn)
    for step in range(start, stop):
        opt.learning_rate = lr_at(step)
        idx = rng.integers(0, len(train_rows), size=BS)
        rows = train_rows[idx]; mk = train_mask[idx]
        x = mx.array(rows[:, :-1]); y = mx.array(rows[:, 1:]); m = mx.array(mk[:, 1:])
        loss, grads = step_fn(model, x, y, m)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 30 == 0 or step == stop - 1:
            print(f"[{tag}] step {step:4d} lr {lr_at(step):.2e} reply_loss {loss.item():.4f}")

mx.random.seed(0)
model = DeskLM()
opt = optim.Adam(learning_rate=0.0)
t0 = time.time()
run(model, opt, 0, SPLIT, "first")

ckdir = tempfile.mkdtemp()
wpath = os.path.join(ckdir, "desk_weights.safetensors")
spath = os.path.join(ckdir, "desk_opt.safetensors")
model.save_weights(wpath)
mx.save_safetensors(spath, dict(tree_flatten(opt.state)))
print(f"checkpoint written at step {SPLIT}: {os.path.getsize(wpath)//1024} KiB weights")

del model, opt
mx.random.seed(123)
model = DeskLM()
model.load_weights(wpath)
opt = optim.Adam(learning_rate=0.0)
opt.state = tree_unflatten(list(mx.load(spath).items()))
print("resumed from checkpoint")
run(model, opt, SPLIT, TOTAL, "resumed")

# evaluation: greedy reply for unseen requests
ev = np.random.default_rng(99)
hour_ok = boat_ok = fmt_ok = 0
N = 60
for _ in range(N):
    d = dialogue(ev)
    prompt = d[: d.index(AST) + 1]
    toks = list(prompt)
    for _ in range(5):
        logits = model(mx.array([toks]))[0, -1]
        toks.append(int(mx.argmax(logits).item()))
    reply = toks[len(prompt):]
    want = d[len(prompt):]
    fmt_ok += int(reply[0] == DEP and reply[2] == BOAT and reply[4] == EOS)
    hour_ok += int(reply[1] == want[1])
    boat_ok += int(reply[3] == want[3])
print(f"eval {N} requests: format {fmt_ok/N:.3f}  hour {hour_ok/N:.3f} (chance 0.083)  boat {boat_ok/N:.3f} (coin, chance 0.5)")
print(f"done in {time.time()-t0:.1f}s")
