# Lighthouse keeper log: spoken tide heights ("three metres forty") -> digit string "3.40".
# LSTM encoder-decoder with Bahdanau-style additive attention, teacher forcing,
# RMSprop under SGDR (cosine warm restarts, lr starts each cycle from its peak and the
# first cycle is preceded by a linear warm-up from exactly 0). CSV output.
import time, math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
ONES = ["zero","one","two","three","four","five","six","seven","eight","nine"]
TENS = {2:"twenty",3:"thirty",4:"forty",5:"fifty",6:"sixty",7:"seventy",8:"eighty",9:"ninety"}
TEENS = ["ten","eleven","twelve","thirteen","fourteen","fifteen","sixteen","seventeen","eighteen","nineteen"]

def say_cm(c):
    if c == 0: return []
    if c < 10: return ["oh", ONES[c]]
    if c < 20: return [TEENS[c-10]]
    t, o = divmod(c, 10)
    return [TENS[t]] + ([ONES[o]] if o else [])

def sample():
    m = int(rng.integers(0, 10)); c = int(rng.integers(0, 100))
    words = [ONES[m], "metre" if m == 1 else "metres"] + say_cm(c)
    if rng.random() < 0.3: words = ["tide"] + words
    return words, f"{m}.{c:02d}"

SRC = ["<pad>","tide","metre","metres","oh"] + ONES + TEENS + list(TENS.values())
SI = {w:i for i,w in enumerate(SRC)}
TGT = ["<pad>","<s>","</s>","."] + list("0123456789")
TI = {w:i for i,w in enumerate(TGT)}
SL, TL = 6, 6  # target: <s> d . d d </s>

def batch(n):
    s = np.zeros((n, SL), np.int32); t = np.zeros((n, TL), np.int32); txt = []
    for i in range(n):
        w, y = sample(); txt.append(y)
        ids = [SI[x] for x in w]; s[i, :len(ids)] = ids
        t[i] = [TI["<s>"]] + [TI[ch] for ch in y] + [TI["</s>"]]
    return mx.array(s), mx.array(t), txt

class Seq2Seq(nn.Module):
    def __init__(self, d=64):
        super().__init__()
        self.se = nn.Embedding(len(SRC), d); self.te = nn.Embedding(len(TGT), d)
        self.enc = nn.LSTM(d, d); self.dec = nn.LSTM(2*d, d)
        self.wq = nn.Linear(d, d, bias=False); self.wk = nn.Linear(d, d, bias=False)
        self.v = nn.Linear(d, 1, bias=False); self.out = nn.Linear(2*d, len(TGT))
    def encode(self, s):
        h, c = self.enc(self.se(s))
        return h, (h[:, -1], c[:, -1]), (s != 0)
    def step(self, y, state, mem, keys, smask):
        h_prev, c_prev = state
        sc = self.v(mx.tanh(keys + self.wq(h_prev)[:, None])).squeeze(-1)
        sc = mx.where(smask, sc, -1e9)
        ctx = (mx.softmax(sc, axis=-1)[..., None] * mem).sum(1)
        h, c = self.dec(mx.concatenate([self.te(y), ctx], -1)[:, None], hidden=h_prev, cell=c_prev)
        h, c = h[:, 0], c[:, 0]
        return self.out(mx.concatenate([h, ctx], -1)), (h, c)
    def __call__(self, s, tin):
        mem, state, smask = self.encode(s); keys = self.wk(mem); outs = []
        for t in range(tin.shape[1]):
            lo, state = self.step(tin[:, t], state, mem, keys, smask); outs.append(lo)
        return mx.stack(outs, 1)
    def greedy(self, s):
        mem, state, smask = self.encode(s); keys = self.wk(mem)
        y = mx.full((s.shape[0],), TI["<s>"], mx.int32); res = []
        for _ in range(TL - 1):
            lo, state = self.step(y, state, mem, keys, smask); y = mx.argmax(lo, -1); res.append(y)
        return np.array(mx.stack(res, 1))

def decode(row):
    out = []
    for i in row:
        if TGT[i] == "</s>": break
        out.append(TGT[i])
    return "".join(out)

mx.random.seed(3)
model = Seq2Seq(); mx.eval(model.parameters())
WARM, CYCLE, PEAK = 30, 120, 4e-3
def lr_at(step):
    if step < WARM: return PEAK * step / WARM
    k = (step - WARM) % CYCLE
    return 1e-5 + 0.5 * (PEAK - 1e-5) * (1 + math.cos(math.pi * k / CYCLE))
opt = optim.RMSprop(learning_rate=0.0)

def loss_fn(m, s, t):
    lo = m(s, t[:, :-1])
    return nn.losses.cross_entropy(lo, t[:, 1:], reduction="mean")
vg = nn.value_and_grad(model, loss_fn)

vs, vt, vtxt = batch(200)
print("step,phase,lr,train_ce,val_exact,val_char,baseline_exact")
base = np.mean([y == "0.00" for y in vtxt])
t0 = time.time(); STEPS = WARM + 2 * CYCLE
for step in range(STEPS):
    opt.learning_rate = lr_at(step)
    s, t, _ = batch(64)
    loss, g = vg(model, s, t)
    g, _ = optim.clip_grad_norm(g, 1.0)
    opt.update(model, g); mx.eval(model.parameters(), opt.state, loss)
    if step % 30 == 0 or step == STEPS - 1:
        pred = [decode(r) for r in model.greedy(vs)]
        ex = np.mean([p == y for p, y in zip(pred, vtxt)])
        ch = np.mean([sum(a == b for a, b in zip(p.ljust(4), y)) / 4 for p, y in zip(pred, vtxt)])
        ph = "warmup" if step < WARM else f"cycle{(step-WARM)//CYCLE + 1}"
        print(f"{step},{ph},{lr_at(step):.2e},{loss.item():.4f},{ex:.3f},{ch:.3f},{base:.3f}")
print(f"# done in {time.time()-t0:.1f}s; sample: {vtxt[0]} -> {decode(model.greedy(vs[:1])[0])}")
