import logging, math, sys, time
from collections import Counter
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
mx.random.seed(0)

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(asctime)s.%(msecs)03d | %(levelname)-8s | %(module)s:%(funcName)s:%(lineno)d - %(message)s",
                    datefmt="%Y-%m-%d %H:%M:%S")
log = logging.getLogger("sig")

# pharmacy label writer: prescriber shorthand (sig) -> patient instruction
rng = np.random.default_rng(3)
FORMS = {"tab": ("take", "tablet", ["po", "sl"]), "cap": ("take", "capsule", ["po"]),
         "gtt": ("instil", "drop", ["od", "os", "ou"]), "puff": ("inhale", "puff", ["inh"])}
ROUTE = {"po": "by mouth", "sl": "under the tongue", "od": "in the right eye", "os": "in the left eye",
         "ou": "in both eyes", "inh": "from the inhaler"}
FREQ = {"qd": ["once daily"], "bid": ["twice daily", "two times a day"], "tid": ["three times daily", "three times a day"],
        "qid": ["four times daily"], "q4h": ["every four hours"], "q6h": ["every six hours"], "hs": ["at bedtime"]}
MOD = {"ac": "before meals", "pc": "after meals", "prn": "as needed"}
DUR = {"x5d": "for five days", "x7d": "for seven days", "x14d": "for fourteen days"}
DOSE = {"1": "one", "2": "two", "h": "half a"}

def sample():
    form = rng.choice(list(FORMS)); verb, noun, routes = FORMS[form]
    dose = rng.choice(["1", "2"] if form != "tab" else ["1", "2", "h"])
    route = rng.choice(routes); freq = rng.choice(list(FREQ))
    src = [dose, form, route, freq]
    tgt = [verb, DOSE[dose], noun + ("s" if dose == "2" else "")] + ROUTE[route].split()
    ph = FREQ[freq]
    tgt += (ph[1] if len(ph) > 1 and rng.random() < 0.25 else ph[0]).split()
    if rng.random() < 0.5:
        m = rng.choice(list(MOD)); src.append(m); tgt += MOD[m].split()
    if rng.random() < 0.4:
        d = rng.choice(list(DUR)); src.append(d); tgt += DUR[d].split()
    return src, tgt

pairs = [sample() for _ in range(7000)]
sv = ["<pad>"] + sorted({t for s, _ in pairs for t in s})
tv = ["<pad>", "<s>", "</s>"] + sorted({t for _, g in pairs for t in g})
si = {t: i for i, t in enumerate(sv)}; ti = {t: i for i, t in enumerate(tv)}
SL, TL = 6, 17
def enc(pp):
    S = np.zeros((len(pp), SL), np.int32); T = np.zeros((len(pp), TL + 1), np.int32)
    for k, (s, g) in enumerate(pp):
        S[k, :len(s)] = [si[t] for t in s]
        ids = [1] + [ti[t] for t in g] + [2]; T[k, :len(ids)] = ids
    return mx.array(S), mx.array(T)
Str, Ttr = enc(pairs[:6000]); Sva, Tva = enc(pairs[6000:])
refs = [g for _, g in pairs[6000:]]

class Sig2Text(nn.Module):
    """non-autoregressive labeller: every output slot is predicted at once from the whole sig"""
    def __init__(self, d=32, h=128):
        super().__init__()
        self.semb = nn.Embedding(len(sv), d)
        self.body = nn.Sequential(nn.Linear(SL * d, h), nn.GELU(), nn.Linear(h, h), nn.GELU())
        self.out = nn.Linear(h, TL * len(tv))
    def __call__(self, s):
        e = self.semb(s).reshape(s.shape[0], -1)
        return self.out(self.body(e)).reshape(s.shape[0], TL, len(tv))

def loss_fn(m, s, t):
    logits = m(s); y = t[:, 1:]; w = (mx.cumsum((y == 2).astype(mx.int32), axis=1) - (y == 2)) == 0
    w = w.astype(mx.float32)
    return (nn.losses.cross_entropy(logits, y) * w).sum() / w.sum()

def bleu(hyps, refs):
    num = [0] * 4; den = [0] * 4; hl = rl = 0
    for h, r in zip(hyps, refs):
        hl += len(h); rl += len(r)
        for n in range(1, 5):
            hc = Counter(tuple(h[i:i + n]) for i in range(len(h) - n + 1))
            rc = Counter(tuple(r[i:i + n]) for i in range(len(r) - n + 1))
            num[n - 1] += sum(min(c, rc[g]) for g, c in hc.items()); den[n - 1] += max(len(h) - n + 1, 0)
    if min(num) == 0: return 0.0
    bp = 1.0 if hl > rl else math.exp(1 - rl / max(hl, 1))
    return 100 * bp * math.exp(sum(math.log(num[i] / den[i]) for i in range(4)) / 4)

def greedy(m, s):
    out = []
    for row in np.array(m(s).argmax(axis=-1)):
        words = []
        for i in row:
            if i == 2: break
            words.append(tv[i])
        out.append(words)
    return out

def validate(m):
    logits = m(Sva); y = Tva[:, 1:]; w = (mx.cumsum((y == 2).astype(mx.int32), axis=1) - (y == 2)) == 0
    nll = ((nn.losses.cross_entropy(logits, y) * w).sum() / w.sum()).item()
    acc = 100 * (((logits.argmax(-1) == y) & w).sum() / w.sum()).item()
    hyps = greedy(m, Sva)
    em = 100 * np.mean([h == r for h, r in zip(hyps, refs)])
    return nll, acc, bleu(hyps, refs), em

model = Sig2Text(); mx.eval(model.parameters())
total, warm, bs = 900, 60, 64
sched = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, warm), optim.linear_schedule(2e-3, 0.0, total - warm)], [warm])
opt = optim.AdamW(learning_rate=sched, betas=[0.9, 0.98], weight_decay=1e-2)
vg = nn.value_and_grad(model, loss_fn)
nparams = sum(v.size for _, v in __import__("mlx.utils", fromlist=["tree_flatten"]).tree_flatten(model.parameters()))
log.info(f"pairs train=6000 valid=1000 | src_vocab={len(sv)} tgt_vocab={len(tv)} | params={nparams}")
nll, acc, b, em = validate(model)
log.info(f"step 0 | val_nll {nll:.3f} | ppl {math.exp(nll):.2f} | tok_acc {acc:.1f}% | bleu {b:.2f} | exact {em:.1f}% | lr 0.0e+00")
best, t0, win = -1.0, time.time(), []
perm_rng = np.random.default_rng(11)
for step in range(1, total + 1):
    idx = mx.array(perm_rng.integers(0, 6000, bs))
    lr_used = float(sched(opt.step))
    loss, g = vg(model, Str[idx], Ttr[idx]); opt.update(model, g)
    mx.eval(loss, model.parameters(), opt.state); win.append(loss.item())
    if step % 50 == 0:
        tl = float(np.mean(win)); win = []
        log.info(f"step {step} | train_nll {tl:.3f} | train_ppl {math.exp(tl):.2f} | lr {lr_used:.2e} | {time.time()-t0:.1f}s")
    if step % 150 == 0:
        nll, acc, b, em = validate(model)
        log.info(f"step {step} | val_nll {nll:.3f} | ppl {math.exp(nll):.2f} | tok_acc {acc:.1f}% | bleu {b:.2f} | exact {em:.1f}% | lr {lr_used:.2e}")
        if b > best + 0.05: best = b
        else: log.warning(f"bleu {b:.2f} did not beat best {best:.2f}; keeping the current weights")
for h, (s, _) in list(zip(greedy(model, Sva[:3]), pairs[6000:6003])):
    log.info(f"sample | {' '.join(s)} -> {' '.join(h)}")
log.info(f"done | best bleu {best:.2f} | {time.time()-t0:.1f}s")
