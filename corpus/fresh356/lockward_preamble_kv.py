# Lock-keeper ledger: each ledger line is a run of gate readings where every reading
# is the previous one advanced by the sluice's stride (mod 10).  A tiny causal LM is
# pretrained on ledgers whose first token names the sluice (strides 1..9).  It is then
# frozen, and sluice 7's ledgers arrive WITHOUT the naming token: we learn per-layer
# key/value preambles (the Li & Liang 2021 method) through a small reparameterisation
# MLP, then fold the MLP away into plain K/V tables, checkpoint, resume and finish.
import math, os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

mx.random.seed(3)
rng = np.random.default_rng(3)

DIG = 10            # gate readings 0..9
NAME0 = 10          # tokens 10..18 name sluices with stride 1..9
VOCAB = 19
L = 10              # readings per ledger line
D, HEADS, LAYERS = 32, 4, 2
HD = D // HEADS


def ledgers(n, stride=None, named=True):
    k = rng.integers(1, 10, size=n) if stride is None else np.full(n, stride)
    x0 = rng.integers(0, DIG, size=n)
    seq = (x0[:, None] + k[:, None] * np.arange(L)[None, :]) % DIG
    if named:
        inp = np.concatenate([(NAME0 + k - 1)[:, None], seq[:, :-1]], axis=1)
        tgt = seq
    else:
        inp, tgt = seq[:, :-1], seq[:, 1:]
    return mx.array(inp, dtype=mx.int32), mx.array(tgt, dtype=mx.int32)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1 = nn.LayerNorm(D)
        self.qkv = nn.Linear(D, 3 * D)
        self.out = nn.Linear(D, D)
        self.ln2 = nn.LayerNorm(D)
        self.mlp = nn.Sequential(nn.Linear(D, 4 * D), nn.GELU(), nn.Linear(4 * D, D))

    def __call__(self, x, pk=None, pv=None):
        B, T, _ = x.shape
        q, k, v = mx.split(self.qkv(self.ln1(x)), 3, axis=-1)
        sh = lambda a: a.reshape(B, -1, HEADS, HD).transpose(0, 2, 1, 3)
        q, k, v = sh(q), sh(k), sh(v)
        P = 0
        if pk is not None:                       # pk, pv: (P, D) shared by the batch
            P = pk.shape[0]
            ek = mx.broadcast_to(pk.reshape(1, P, HEADS, HD).transpose(0, 2, 1, 3), (B, HEADS, P, HD))
            ev = mx.broadcast_to(pv.reshape(1, P, HEADS, HD).transpose(0, 2, 1, 3), (B, HEADS, P, HD))
            k = mx.concatenate([ek, k], axis=2)
            v = mx.concatenate([ev, v], axis=2)
        causal = nn.MultiHeadAttention.create_additive_causal_mask(T).astype(x.dtype)
        mask = mx.concatenate([mx.zeros((T, P), dtype=x.dtype), causal], axis=1) if P else causal
        a = mx.fast.scaled_dot_product_attention(q, k, v, scale=1.0 / math.sqrt(HD), mask=mask)
        x = x + self.out(a.transpose(0, 2, 1, 3).reshape(B, T, D))
        return x + self.mlp(self.ln2(x))


class LedgerLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, D)
        self.pos = nn.Embedding(16, D)
        self.blocks = [Block() for _ in range(LAYERS)]
        self.ln = nn.LayerNorm(D)
        self.head = nn.Linear(D, DIG)

    def __call__(self, ids, kv=None):
        x = self.tok(ids) + self.pos(mx.arange(ids.shape[1]))
        for i, b in enumerate(self.blocks):
            x = b(x) if kv is None else b(x, kv[i][0], kv[i][1])
        return self.head(self.ln(x))


class PreambleReparam(nn.Module):
    """P small seed vectors -> MLP -> per-layer (key, value) preambles."""
    def __init__(self, P=4, seed_dim=16, hidden=64):
        super().__init__()
        self.seed = mx.random.normal((P, seed_dim)) * 0.5
        self.mlp = nn.Sequential(nn.Linear(seed_dim, hidden), nn.Tanh(), nn.Linear(hidden, 2 * LAYERS * D))

    def tables(self):
        h = self.mlp(self.seed)                                   # (P, 2*LAYERS*D)
        h = h.reshape(h.shape[0], LAYERS, 2, D)
        return [(h[:, i, 0], h[:, i, 1]) for i in range(LAYERS)]


def acc_parts(logits, tgt):
    pred = mx.argmax(logits, axis=-1)
    first = mx.mean((pred[:, 0] == tgt[:, 0]).astype(mx.float32)).item()
    rest = mx.mean((pred[:, 1:] == tgt[:, 1:]).astype(mx.float32)).item()
    return first, rest


# ---------------- phase 1: pretrain the ledger LM on named ledgers ----------------
lm = LedgerLM()
mx.eval(lm.parameters())
print(f"ledger LM: {sum(v.size for _, v in tree_flatten(lm.parameters()))} params")

def lm_loss(m, inp, tgt):
    # the first reading of a line is random, so it is not scored
    return nn.losses.cross_entropy(m(inp)[:, 1:], tgt[:, 1:], reduction="mean")

pre_steps = 150
opt = optim.AdamW(learning_rate=optim.cosine_decay(2e-3, pre_steps, 1e-4), weight_decay=0.01)
vg = nn.value_and_grad(lm, lm_loss)
t0 = time.time()
for step in range(1, pre_steps + 1):
    inp, tgt = ledgers(64)
    loss, g = vg(lm, inp, tgt)
    opt.update(lm, g)
    mx.eval(lm.parameters(), opt.state, loss)
    if step % 50 == 0:
        vi, vt = ledgers(500)
        _, rest = acc_parts(lm(vi), vt)
        print(f"pretrain step {step:4d}  loss {loss.item():.4f}  named-ledger acc {rest:.3f}")
print(f"pretrain done in {time.time()-t0:.1f}s")

# ---------------- phase 2: frozen LM, preamble tuning for sluice 7 ----------------
lm.freeze()
STRIDE = 7
ti, tt = ledgers(600, stride=STRIDE, named=False)      # held-out unnamed ledgers
base_first, base_rest = acc_parts(lm(ti), tt)
print(f"baseline (frozen LM, no preamble) sluice {STRIDE}: first-step acc {base_first:.3f}  later-step acc {base_rest:.3f}")
print(f"chance for the first step: {1/DIG:.3f}")

pre = PreambleReparam()
mx.eval(pre.parameters())
print(f"trainable preamble params: {sum(v.size for _, v in tree_flatten(pre.trainable_parameters()))}  "
      f"(LM trainable: {len(tree_flatten(lm.trainable_parameters()))} arrays)")

def preamble_loss(p, inp, tgt):
    return nn.losses.cross_entropy(lm(inp, p.tables()), tgt, reduction="mean")

TUNE, WARM = 160, 20
sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, WARM),
                              optim.cosine_decay(3e-3, TUNE - WARM, 2e-4)], [WARM])
popt = optim.Adam(learning_rate=sched)
pvg = nn.value_and_grad(pre, preamble_loss)
ckpt_dir = tempfile.mkdtemp("", "sluice_preamble_")
RESUME_AT = 80

def run(p, o, first, last):
    for step in range(first, last + 1):
        inp, tgt = ledgers(64, stride=STRIDE, named=False)
        before = p.seed if step == 1 else None
        loss, g = pvg(p, inp, tgt)
        o.update(p, g)
        mx.eval(p.parameters(), o.state, loss)
        if step == 1:
            moved = mx.max(mx.abs(p.seed - before)).item()
            print(f"tune step 1  lr {o.learning_rate.item():.2e}  loss {loss.item():.4f}  seed moved {moved:.2e}")
        if step % 20 == 0:
            f, r = acc_parts(lm(ti, p.tables()), tt)
            print(f"tune step {step:3d}  lr {o.learning_rate.item():.2e}  loss {loss.item():.4f}  "
                  f"first-step acc {f:.3f}  later-step acc {r:.3f}")

run(pre, popt, 1, RESUME_AT)
pre.save_weights(os.path.join(ckpt_dir, "preamble.safetensors"))
mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"), dict(tree_flatten(popt.state)))
print(f"checkpoint written at step {RESUME_AT}; starting a fresh process state from it")

pre2 = PreambleReparam()
pre2.load_weights(os.path.join(ckpt_dir, "preamble.safetensors"))
popt2 = optim.Adam(learning_rate=sched)
popt2.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "opt.safetensors")).items()))
f, r = acc_parts(lm(ti, pre2.tables()), tt)
print(f"resumed at step {popt2.state['step'].item()}  first-step acc {f:.3f}  later-step acc {r:.3f}")
run(pre2, popt2, RESUME_AT + 1, TUNE)

# ---------------- fold the reparameterisation MLP into plain K/V tables ----------------
kv = [(mx.array(k), mx.array(v)) for k, v in pre2.tables()]
mx.eval(kv)
f_mlp, r_mlp = acc_parts(lm(ti, pre2.tables()), tt)
f_tab, r_tab = acc_parts(lm(ti, kv), tt)
print(f"final via MLP:    first-step acc {f_mlp:.3f}  later-step acc {r_mlp:.3f}")
print(f"final via tables: first-step acc {f_tab:.3f}  later-step acc {r_tab:.3f}  "
      f"({sum(k.size + v.size for k, v in kv)} stored numbers)")
# the frozen LM must be untouched, and other sluices still need their name token
ni, nt = ledgers(500, named=True)
_, named_rest = acc_parts(lm(ni), nt)
print(f"named-ledger acc of the frozen LM after tuning: {named_rest:.3f}")
print(f"gain over baseline on the first step: {f_tab - base_first:+.3f}")
