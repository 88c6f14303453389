# tiny image-captioning LM: 4 image patches (bidirectional block) + caption tokens (causal)
import math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
mx.random.seed(7)
N_CLS, N_GEN = 8, 12
BOS, PAD = N_CLS + N_GEN, N_CLS + N_GEN + 1
VOCAB = N_CLS + N_GEN + 2
N_PATCH, PDIM, MAXCAP = 4, 10, 6
SEQ = N_PATCH + 1 + MAXCAP  # patches, BOS, caption
PROTOS = rng.normal(size=(N_CLS, N_PATCH, PDIM)).astype(np.float32)

def make(n):
    cls = rng.integers(0, N_CLS, n)
    patches = PROTOS[cls] + 0.4 * rng.normal(size=(n, N_PATCH, PDIM)).astype(np.float32)
    caps = np.full((n, MAXCAP), PAD, np.int32)
    lens = rng.integers(4, MAXCAP + 1, n)
    for i in range(n):
        caps[i, 0] = cls[i]
        prev = 0
        for t in range(1, lens[i]):
            prev = (prev * 5 + cls[i] + rng.integers(0, 3)) % N_GEN
            caps[i, t] = N_CLS + prev
    return patches, caps, lens, cls

def image_attention_mask(token_type_ids, attention_mask):
    # token_type_ids: 1 for image positions. Causal everywhere, bidirectional inside the image block.
    pad = attention_mask.astype(mx.bool_)
    return pad[:, None, :] & pad[:, :, None]

class Block(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = nn.MultiHeadAttention(d, h)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))
    def __call__(self, x, mask):
        y = self.ln1(x)
        x = x + self.attn(y, y, y, mask=mask)
        return x + self.mlp(self.ln2(x))

class CapLM(nn.Module):
    def __init__(self, d=48, h=4, layers=2):
        super().__init__()
        self.patch_proj = nn.Linear(PDIM, d)
        self.tok = nn.Embedding(VOCAB, d)
        self.pos = nn.Embedding(SEQ, d)
        self.blocks = [Block(d, h) for _ in range(layers)]
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, VOCAB)
    def __call__(self, patches, text):
        B, T = text.shape
        x = mx.concatenate([self.patch_proj(patches), self.tok(text)], axis=1)
        x = x + self.pos(mx.arange(x.shape[1]))
        token_type_ids = mx.concatenate([mx.ones((B, N_PATCH), mx.int32), mx.zeros((B, T), mx.int32)], axis=1)
        attention_mask = mx.concatenate([mx.ones((B, N_PATCH), mx.int32), (text != PAD).astype(mx.int32)], axis=1)
        mask4d = image_attention_mask(token_type_ids, attention_mask)
        mask = mx.where(mask4d[:, None], 0.0, -1e9).astype(x.dtype)
        for b in self.blocks:
            x = b(x, mask)
        return self.head(self.ln(x))

def loss_fn(model, patches, caps):
    B = caps.shape[0]
    text = mx.concatenate([mx.full((B, 1), BOS, mx.int32), caps[:, :-1]], axis=1)
    logits = model(patches, text)[:, N_PATCH:]
    valid = (caps != PAD).astype(mx.float32)
    ce = nn.losses.cross_entropy(logits, caps, reduction="none")
    return (ce * valid).sum() / valid.sum()

def greedy(model, patches, steps=4):
    B = patches.shape[0]
    text = mx.full((B, 1), BOS, mx.int32)
    for _ in range(steps):
        nxt = mx.argmax(model(patches, text)[:, -1], axis=-1).astype(mx.int32)
        text = mx.concatenate([text, nxt[:, None]], axis=1)
    return np.array(text[:, 1:])

trP, trC, _, _ = make(2000)
vaP, vaC, _, vaCls = make(400)
trP, trC, vaP, vaC = map(mx.array, (trP, trC, vaP, vaC))

model = CapLM()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=2e-3, weight_decay=0.01)
step = nn.value_and_grad(model, loss_fn)
BS = 100
t0 = time.time()
for ep in range(1, 7):
    perm = mx.array(rng.permutation(trP.shape[0]))
    tot = 0.0
    for i in range(0, trP.shape[0], BS):
        idx = perm[i:i + BS]
        loss, grads = step(model, trP[idx], trC[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
    model.eval()
    vl = loss_fn(model, vaP, vaC).item()
    model.train()
    print(f"ep {ep:02d} | xent {tot / (trP.shape[0] // BS):.4f} | val {vl:.4f} | {time.time() - t0:5.1f}s", flush=True)

model.eval()
gen = greedy(model, vaP)
cls_acc = (gen[:, 0] == vaCls).mean()
legal = []
for i in range(gen.shape[0]):
    prev = 0
    for t in range(1, gen.shape[1]):
        g = gen[i, t] - N_CLS
        ok = any(g == (prev * 5 + vaCls[i] + k) % N_GEN for k in range(3))
        legal.append(ok)
        prev = g if 0 <= g < N_GEN else 0
print(f"greedy captions (n={gen.shape[0]}): class word acc {100 * cls_acc:.1f}%  legal transitions {100 * np.mean(legal):.1f}%")
print(f"entropy floor of the caption chain ~ {math.log(3) * (np.mean([4, 5, 6]) - 1) / np.mean([4, 5, 6]):.3f} nats/token")
