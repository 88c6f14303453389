import math, random, time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(11); mx.random.seed(11)
SPECIALS = ["[PAD]", "[CLS]", "[MASK]", "[SEP]"]
WORDS = ["hive", "queen", "brood", "capped", "open", "honey", "pollen", "frame", "super", "calm",
         "busy", "swarm", "cell", "drone", "mite", "low", "high", "ok", "fed", "syrup", "none"]
VOCAB = SPECIALS + WORDS + [str(d) for d in range(10)]
ID = {w: i for i, w in enumerate(VOCAB)}
PAD, CLS, MASK, SEP = 0, 1, 2, 3
L, D = 16, 48

def record():
    n = random.randint(1, 9)
    state = random.choice(["calm", "busy"])
    mites = "high" if state == "busy" and random.random() < 0.8 else random.choice(["low", "ok"])
    toks = ["hive", str(n), "queen", random.choice(["open", "capped"]), "brood", state,
            "mite", mites, "frame", str(random.randint(2, 9))]
    if random.random() < 0.5:
        toks += ["fed", "syrup"]
    return [CLS] + [ID[t] for t in toks] + [SEP]

def batch(n):
    x = mx.array([r + [PAD] * (L - len(r)) for r in (record() for _ in range(n))])
    real = (x != PAD) & (x != CLS) & (x != SEP)
    pick = (mx.random.uniform(shape=x.shape) < 0.2) & real
    inp = mx.where(pick, MASK, x)
    return inp, x, pick, (x != PAD)

class Ledger(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(len(VOCAB), D)
        self.pos = nn.Embedding(L, D)
        self.enc = nn.TransformerEncoder(1, D, 4, mlp_dims=96)
        self.norm = nn.LayerNorm(D)
    def __call__(self, x, keep):
        h = self.tok(x) + self.pos(mx.arange(L))
        bias = mx.where(keep[:, None, None, :], 0.0, -1e9)
        h = self.norm(self.enc(h, bias))
        return self.tok.as_linear(h)          # tied output head

def loss_fn(model, inp, tgt, pick, keep):
    ce = nn.losses.cross_entropy(model(inp, keep), tgt, reduction="none")
    w = pick.astype(mx.float32)
    return (ce * w).sum() / mx.maximum(w.sum(), 1.0)

model = Ledger(); mx.eval(model.parameters())
sched = optim.step_decay(3e-3, 0.5, 150)
opt = optim.RMSprop(learning_rate=sched)
vg = nn.value_and_grad(model, loss_fn)
val = batch(256)
uni = math.log(len(VOCAB) - len(SPECIALS))   # guess among ordinary tokens
t0 = time.time()
print("run:\n  vocab: %d (specials %d)\n  masked_fraction: 0.2\n  reference_nats: %.3f" % (len(VOCAB), len(SPECIALS), uni))
for step in range(1, 401):
    l, g = vg(model, *batch(64))
    opt.update(model, g); mx.eval(model.parameters(), opt.state)
    if step in (1, 10) or step % 100 == 0:
        model.eval(); v = loss_fn(model, *val).item(); model.train()
        logits = model(val[0], val[3]); pred = logits.argmax(-1)
        acc = ((pred == val[1]) & val[2]).sum().item() / max(val[2].sum().item(), 1)
        print("- step: %d\n  lr: %.5f\n  masked_nats: %.4f\n  gain_over_reference_nats: %.4f\n  masked_acc_pct: %.1f\n  secs: %.1f"
              % (step, opt.learning_rate.item(), v, uni - v, 100 * acc, time.time() - t0))
print("done: true")
