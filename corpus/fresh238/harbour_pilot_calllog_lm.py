# Harbour-pilot VHF call log: tiny causal transformer LM pre-trained from scratch.
# Two sessions: session A trains and writes a checkpoint, session B rebuilds the
# model + optimizer, loads the checkpoint and continues. CSV output.
import math, os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(7)
SHIPS = ["aurora", "kestrel", "tamsin", "orca", "halyard", "corvid"]
BERTHS = ["one", "two", "three", "four"]
ACTS = ["inbound", "outbound", "holding"]
WORDS = ["<s>", "pilot", "station", "this", "is", "request", "berth", "over", "roger", "proceed", "to"] + SHIPS + BERTHS + ACTS
VOCAB = {w: i for i, w in enumerate(WORDS)}
V = len(WORDS)

def call():
    s, b, a = rng.choice(SHIPS), rng.choice(BERTHS), rng.choice(ACTS)
    return ["<s>", "pilot", "station", "this", "is", s, a, "request", "berth", b, "over",
            "roger", s, "proceed", "to", "berth", b, "over"]

def stream(n_calls):
    return np.array([VOCAB[w] for _ in range(n_calls) for w in call()], dtype=np.int32)

train_ids, val_ids = stream(3000), stream(60)
T = 18
# per-call entropy: ship (ln 6) + act (ln 3) + berth (ln 4); everything else determined
floor = (math.log(6) + math.log(3) + math.log(4)) / T
# same, when the reply's ship and berth are guessed instead of recalled from the call
recall_floor = floor + (math.log(6) + math.log(4)) / T
counts = np.bincount(train_ids, minlength=V) + 1
p = counts / counts.sum()
unigram = float(-np.mean(np.log(p[val_ids])))

def batches(ids, bsz, seq):
    starts = rng.integers(0, len(ids) - seq - 1, size=bsz)
    x = np.stack([ids[s:s + seq] for s in starts]); y = np.stack([ids[s + 1:s + seq + 1] for s in starts])
    return mx.array(x), mx.array(y)

class Block(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = nn.MultiHeadAttention(d, h)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))
    def __call__(self, x, mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, mask)
        return x + self.mlp(self.ln2(x))

class TinyLM(nn.Module):
    def __init__(self, v, d=32, h=4, n=2, ctx=40):
        super().__init__()
        self.tok = nn.Embedding(v, d)
        self.pos = nn.Embedding(ctx, d)
        self.blocks = [Block(d, h) for _ in range(n)]
        self.ln = nn.LayerNorm(d)
    def __call__(self, x):
        L = x.shape[1]
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        z = self.tok(x) + self.pos(mx.arange(L))
        for b in self.blocks:
            z = b(z, mask)
        return self.tok.as_linear(self.ln(z))   # tied input/output embedding

def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")

TOTAL, WARM, SPLIT, ACCUM, SEQ, BSZ = 220, 30, 110, 2, 36, 8
sched = optim.join_schedules([optim.linear_schedule(0.0, 6e-3, WARM),
                              optim.cosine_decay(6e-3, TOTAL - WARM, 1e-4)], [WARM])

def make():
    mx.random.seed(0)
    m = TinyLM(V); o = optim.AdamW(learning_rate=sched, weight_decay=0.01)
    return m, o

def val_loss(model):
    x, y = [], []
    for s in range(0, len(val_ids) - SEQ - 1, SEQ):
        x.append(val_ids[s:s + SEQ]); y.append(val_ids[s + 1:s + SEQ + 1])
    return loss_fn(model, mx.array(np.stack(x)), mx.array(np.stack(y))).item()

def run(model, opt, start, stop):
    raw = nn.value_and_grad(model, loss_fn)
    vg = mx.compile(lambda x, y: raw(model, x, y), inputs=model.state, outputs=model.state)
    for step in range(start, stop):
        acc, tot = None, 0.0
        for _ in range(ACCUM):
            l, g = vg(*batches(train_ids, BSZ, SEQ))
            acc = g if acc is None else tree_map_add(acc, g)
            tot += l.item() / ACCUM
        lr = opt.learning_rate.item()
        opt.update(model, tree_scale(acc, 1.0 / ACCUM))
        mx.eval(model.parameters(), opt.state)
        if step == 0 or (step + 1) % 20 == 0:
            print(f"{step + 1},{lr:.6f},{tot:.4f},{val_loss(model):.4f},{floor:.4f},{recall_floor:.4f},{unigram:.4f}")

from mlx.utils import tree_map
def tree_map_add(a, b): return tree_map(lambda u, v: u + v, a, b)
def tree_scale(a, s): return tree_map(lambda u: u * s, a)

t0 = time.time()
print("step,lr,train_nats,val_nats,floor_nats,no_recall_nats,unigram_nats")
model, opt = make()
print(f"# session A  params={sum(v.size for _, v in tree_flatten(model.parameters()))}")
run(model, opt, 0, SPLIT)
ck = tempfile.mkdtemp()
model.save_weights(os.path.join(ck, "w.safetensors"))
mx.save_safetensors(os.path.join(ck, "opt.safetensors"), dict(tree_flatten(opt.state)))
del model, opt

model, opt = make()
model.load_weights(os.path.join(ck, "w.safetensors"))
opt.init(model.trainable_parameters())
opt.state = tree_unflatten(list(mx.load(os.path.join(ck, "opt.safetensors")).items()))
print(f"# session B  resumed at optimizer step {opt.step.item()}")
run(model, opt, SPLIT, TOTAL)

print(f"# done in {time.time() - t0:.1f}s")
