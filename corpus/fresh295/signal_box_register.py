"""Character model of a signal-box train register.

Stage 1 learns the plain-word entries (letters and spaces only).  Stage 2
brings in the full register lines with headcodes, times and berth numbers,
so the alphabet grows: the embedding table and the output layer are widened,
the learned rows are copied across, and a new optimizer takes over.
Reports are printed as unified-diff hunks against the previous report.
"""
import math
import random
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

random.seed(7)
np.random.seed(7)
mx.random.seed(7)

BOXES = ["kings cross", "welwyn", "hitchin", "peterborough", "grantham",
         "retford", "doncaster", "selby", "york", "thirsk", "darlington"]
KINDS = ["express", "stopping", "freight", "empty stock", "light engine"]
DIRS = ["up", "down"]
ACTS = ["offered", "accepted", "entered section", "passed", "cleared",
        "train out of section"]


def plain_entry():
    d = random.choice(DIRS)
    k = random.choice(KINDS)
    b = random.choice(BOXES)
    a = random.choice(ACTS)
    return f"{d} {k} {a} {b}\n"


def full_entry():
    d = random.choice(DIRS)
    k = random.choice(KINDS)
    b = random.choice(BOXES)
    a = random.choice(ACTS)
    head = f"{random.randint(0, 9)}{random.choice('ACDEFLNS')}{random.randint(0, 99):02d}"
    hh, mm = random.randint(0, 23), random.randint(0, 59)
    berth = random.randint(1, 48)
    return f"{hh:02d}:{mm:02d} {head} {d} {k} {a} {b}, berth {berth}.\n"


plain_text = "".join(plain_entry() for _ in range(2000))
full_text = "".join(full_entry() for _ in range(2000))

# stage-1 alphabet first, new characters appended, so old ids never move
alpha1 = sorted(set(plain_text))
alpha2 = alpha1 + sorted(set(full_text) - set(alpha1))
stoi = {c: i for i, c in enumerate(alpha2)}
V1, V2 = len(alpha1), len(alpha2)

CTX = 10


def windows(text):
    ids = np.array([stoi[c] for c in text], dtype=np.int32)
    n = len(ids) - CTX
    idx = np.arange(n)[:, None] + np.arange(CTX + 1)[None, :]
    w = ids[idx]
    return w[:, :CTX], w[:, CTX]


def split(text):
    x, y = windows(text)
    cut = int(0.9 * len(y))
    return (x[:cut], y[:cut]), (x[cut:], y[cut:])


(p_tr, p_va) = split(plain_text)
(f_tr, f_va) = split(full_text)


class CharMLP(nn.Module):
    def __init__(self, vocab, dim=24, hidden=128):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.fc = nn.Linear(CTX * dim, hidden)
        self.out = nn.Linear(hidden, vocab)

    def __call__(self, x):
        h = self.emb(x).reshape(x.shape[0], -1)
        return self.out(nn.relu(self.fc(h)))


def widen(old, vocab):
    new = CharMLP(vocab)
    v = old.emb.weight.shape[0]
    emb = new.emb.weight
    emb[:v] = old.emb.weight
    w = new.out.weight
    w[:v] = old.out.weight
    b = new.out.bias
    b[:v] = old.out.bias
    new.update({"emb": {"weight": emb},
                "fc": {"weight": old.fc.weight, "bias": old.fc.bias},
                "out": {"weight": w, "bias": b}})
    return new


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def evaluate(model, data):
    x, y = data
    tot = 0.0
    for s in range(0, len(y), 2048):
        xb, yb = mx.array(x[s:s + 2048]), mx.array(y[s:s + 2048])
        tot += nn.losses.cross_entropy(model(xb), yb, reduction="sum").item()
    return tot / len(y)


prev = None
hunk = 0


def report(tag, lines):
    global prev, hunk
    hunk += 1
    if prev is None:
        print("--- /dev/null")
        print(f"+++ register/{tag}")
        print(f"@@ -0,0 +1,{len(lines)} @@")
        for ln in lines:
            print("+" + ln)
    else:
        print(f"--- register/{prev[0]}")
        print(f"+++ register/{tag}")
        print(f"@@ -1,{len(prev[1])} +1,{len(lines)} @@")
        for a, b in zip(prev[1], lines):
            if a.split()[0] == b.split()[0] and a == b:
                print(" " + b)
            else:
                print("-" + a)
                print("+" + b)
    prev = (tag, lines)


def run_stage(model, opt, train, valid, steps, stage, t0, every=80):
    x_all, y_all = train
    lvg = nn.value_and_grad(model, loss_fn)
    window = []
    for step in range(1, steps + 1):
        idx = np.random.randint(0, len(y_all), size=128)
        xb, yb = mx.array(x_all[idx]), mx.array(y_all[idx])
        loss, grads = lvg(model, xb, yb)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if step % every == 0:
            tr = sum(window) / len(window)
            window = []
            va = evaluate(model, valid)
            report(f"stage{stage}/step_{step:04d}", [
                f"stage {stage}",
                f"vocab {model.emb.weight.shape[0]}",
                f"train_ppl {math.exp(tr):.3f}",
                f"valid_ppl {math.exp(va):.3f}",
                f"elapsed_s {time.time() - t0:.1f}",
            ])


t0 = time.time()
print(f"# register: {len(plain_text)} plain chars, {len(full_text)} full chars")
print(f"# alphabet stage 1: {V1} symbols, stage 2: {V2} symbols")

model = CharMLP(V1)
mx.eval(model.parameters())
loss0, g0 = nn.value_and_grad(model, loss_fn)(model, mx.array(p_tr[0][:128]), mx.array(p_tr[1][:128]))
flat = [v for _, v in nn.utils.tree_flatten(g0)]
zero = sum(1 for v in flat if mx.all(v == 0).item())
print(f"# gradient leaves {len(flat)}, all-zero {zero}, loss0 {loss0.item():.3f} vs ln V1 {math.log(V1):.3f}")
report("stage1/step_0000", [
    "stage 1",
    f"vocab {V1}",
    "train_ppl n/a",
    f"valid_ppl {math.exp(evaluate(model, p_va)):.3f}",
    "elapsed_s 0.0",
])

opt = optim.Adam(learning_rate=2e-3)
run_stage(model, opt, p_tr, p_va, 240, 1, t0)

model = widen(model, V2)
mx.eval(model.parameters())
print(f"# widened to {V2} symbols; plain-entry valid ppl after widening "
      f"{math.exp(evaluate(model, p_va)):.3f}")
report("stage2/step_0000", [
    "stage 2",
    f"vocab {V2}",
    "train_ppl n/a",
    f"valid_ppl {math.exp(evaluate(model, f_va)):.3f}",
    f"elapsed_s {time.time() - t0:.1f}",
])
opt = optim.Adam(learning_rate=1e-3)
run_stage(model, opt, f_tr, f_va, 480, 2, t0)

# sample with temperature 0.7 from a register opening
ctx = [stoi[c] for c in "14:05 1A23"]
out = []
key = mx.random.key(3)
for _ in range(60):
    logits = model(mx.array([ctx[-CTX:]]))[0] / 0.7
    key, sub = mx.random.split(key)
    nxt = mx.random.categorical(logits, key=sub).item()
    out.append(alpha2[nxt])
    ctx.append(nxt)
    if alpha2[nxt] == "\n":
        break
print("# sample: 14:05 1A23" + "".join(out).rstrip("\n"))
print(f"# done in {time.time() - t0:.1f}s")
