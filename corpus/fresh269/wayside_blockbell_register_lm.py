# Signal box block-bell register: character LM pretrained from scratch.
# Tiny causal transformer, RoPE, tied input/output embedding, z-loss term,
# warmup from 0 then cosine, checkpoint at mid-run and resume into a fresh process state.
import math, os, random, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

random.seed(7); mx.random.seed(7)
CODES = {"EXP": "4", "STP": "3-1", "FRT": "1-4-4", "LEN": "2-3"}
CLS = list(CODES)

def shift_log(n_trains):
    out = []
    for _ in range(n_trains):
        c = random.choice(CLS); b = CODES[c]
        out.append(f"1.1.{b}?{b}!2.2.21.21.|")
    return "".join(out)

text_tr = "".join(shift_log(6) + "\n" for _ in range(900))
text_va = "".join(shift_log(6) + "\n" for _ in range(120))
vocab = sorted(set(text_tr + text_va)); V = len(vocab)
stoi = {ch: i for i, ch in enumerate(vocab)}
enc = lambda s: [stoi[c] for c in s]
tr, va = np.array(enc(text_tr), dtype=np.int32), np.array(enc(text_va), dtype=np.int32)
CTX, D, H, L = 32, 48, 4, 2

def batches(data, bs, n, rng):
    for _ in range(n):
        ix = [rng.randrange(0, data.size - CTX - 1) for _ in range(bs)]
        idx = np.array(ix)[:, None] + np.arange(CTX)[None]
        x, y = mx.array(data[idx]), mx.array(data[idx + 1])
        yield x, y

class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.n1, self.n2 = nn.RMSNorm(D), nn.RMSNorm(D)
        self.qkv = nn.Linear(D, 3 * D, bias=False); self.o = nn.Linear(D, D, bias=False)
        self.rope = nn.RoPE(D // H)
        self.up = nn.Linear(D, 4 * D, bias=False); self.down = nn.Linear(4 * D, D, bias=False)
    def __call__(self, x, mask):
        B, T, _ = x.shape
        q, k, v = mx.split(self.qkv(self.n1(x)), 3, axis=-1)
        q, k, v = (t.reshape(B, T, H, D // H).transpose(0, 2, 1, 3) for t in (q, k, v))
        q, k = self.rope(q), self.rope(k)
        a = mx.fast.scaled_dot_product_attention(q, k, v, scale=(D // H) ** -0.5, mask=mask)
        x = x + self.o(a.transpose(0, 2, 1, 3).reshape(B, T, D))
        return x + self.down(nn.gelu(self.up(self.n2(x))))

class BellLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, D); self.blocks = [Block() for _ in range(L)]; self.nf = nn.RMSNorm(D)
    def __call__(self, x):
        mask = nn.MultiHeadAttention.create_additive_causal_mask(x.shape[1])
        h = self.emb(x) * math.sqrt(D)
        for b in self.blocks: h = b(h, mask)
        return self.emb.as_linear(self.nf(h))

def loss_fn(model, x, y):
    logits = model(x)
    ce = nn.losses.cross_entropy(logits, y).mean()
    z = (mx.logsumexp(logits, axis=-1) ** 2).mean()
    return ce + 1e-3 * z, ce

def evaluate(model, rng):
    tot = 0.0
    for x, y in batches(va, 32, 4, rng):
        tot += nn.losses.cross_entropy(model(x), y).mean().item()
    return tot / 4

STEPS, WARM, HALF = 240, 24, 120
sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, WARM), optim.cosine_decay(3e-3, STEPS - WARM, 1e-4)], [WARM])
def make(): return BellLM(), optim.AdamW(learning_rate=sched, weight_decay=0.01)

# baselines and the entropy floor of the register (class choice: log 4 nats per train line of 22ish chars)
counts = [0] * V
for c in text_tr: counts[stoi[c]] += 1
uni = -sum((n / len(text_tr)) * math.log(n / len(text_tr)) for n in counts if n)
floor = math.log(4) / (len(text_tr) / (900 * 6))
print(f"vocab {V}  train chars {len(tr)}  val chars {len(va)}")
print(f"unigram baseline ce {uni:.3f} (ppl {math.exp(uni):.2f})  source floor ~{floor:.3f} nats/char")

def run(model, opt, start, stop, rng):
    step_fn = nn.value_and_grad(model, loss_fn)
    for s, (x, y) in enumerate(batches(tr, 16, stop - start, rng), start=start):
        (tot, ce), g = step_fn(model, x, y)
        g, gn = optim.clip_grad_norm(g, 1.0)
        opt.update(model, g); mx.eval(model.parameters(), opt.state)
        if s % 30 == 0 or s == stop - 1:
            print(f"step {s:4d} lr {sched(mx.array(s)).item():.2e} loss {tot.item():.4f} ce {ce.item():.4f} gnorm {gn.item():.2f}")

t0 = time.time()
model, opt = make(); mx.eval(model.parameters())
w0 = model.emb.weight[0, :4].tolist()
rng = random.Random(1)
run(model, opt, 0, HALF, rng)
v = evaluate(model, random.Random(99)); print(f"[mid] val ce {v:.4f} ppl {math.exp(v):.3f}")
ck = tempfile.mkdtemp()
model.save_weights(os.path.join(ck, "w.safetensors"))
mx.save_safetensors(os.path.join(ck, "opt.safetensors"), dict(tree_flatten(opt.state)))
del model, opt
model, opt = make()
model.load_weights(os.path.join(ck, "w.safetensors"))
opt.init(model.trainable_parameters())
opt.state = tree_unflatten(list(mx.load(os.path.join(ck, "opt.safetensors")).items()))
print(f"resumed at optimizer step {opt.state['step'].item()}  emb[0,:2] moved {abs(model.emb.weight[0,0].item()-w0[0]):.4f}")
run(model, opt, HALF, STEPS, rng)
v = evaluate(model, random.Random(99))
print(f"[final] val ce {v:.4f} ppl {math.exp(v):.3f}  vs unigram ppl {math.exp(uni):.2f}  floor ppl {math.exp(floor):.3f}")
print(f"done in {time.time()-t0:.1f}s")
