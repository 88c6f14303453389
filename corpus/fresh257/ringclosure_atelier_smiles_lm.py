"""Character-level SMILES language model, pretrain then focus on one chemical series.

Stage A: pretrain a tiny causal transformer on a broad synthetic SMILES library.
Stage B: continue at a lower learning rate on a narrow series (aryl sulfonamides)
mixed with a replay slice of the broad library; the series is new to the model,
so its loss starts high at the stage boundary.
Metric printed next to the loss: bits per character saved relative to a unigram
character model fitted on the same data (higher is better).
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SEED = 3
rng = np.random.default_rng(SEED)
mx.random.seed(SEED)

FRAGS = ["C", "CC", "CCC", "C(C)C", "CO", "OC", "N", "CN", "C(=O)", "C(=O)O", "C(=O)N",
         "c1ccccc1", "c1ccncc1", "F", "Cl", "Br", "OCC", "C#N", "S", "C1CC1", "C1CCNCC1"]
SULF = ["S(=O)(=O)N", "S(=O)(=O)NC", "S(=O)(=O)N(C)C"]
ARYL = ["c1ccc(cc1)", "c1ccc(F)cc1", "c1ccc(Cl)cc1", "c1ccc(C)cc1", "c1ccc(OC)cc1"]


def broad_smiles():
    k = int(rng.integers(2, 6))
    return "".join(rng.choice(FRAGS, size=k))


def sulfonamide_smiles():
    tail = "".join(rng.choice(FRAGS[:11], size=int(rng.integers(1, 3))))
    return str(rng.choice(ARYL)) + str(rng.choice(SULF)) + tail


broad = [broad_smiles() for _ in range(4000)]
series = [sulfonamide_smiles() for _ in range(800)]
chars = sorted(set("".join(broad + series)))
BOS, EOS, PAD = 0, 1, 2
stoi = {c: i + 3 for i, c in enumerate(chars)}
V = len(chars) + 3
T = 32


def encode(smis):
    ids = np.full((len(smis), T + 1), PAD, dtype=np.int32)
    for i, s in enumerate(smis):
        toks = [BOS] + [stoi[c] for c in s][: T - 1] + [EOS]
        ids[i, : len(toks)] = toks
    return ids


def unigram_bits(ids):
    tgt = ids[:, 1:]
    tgt = tgt[tgt != PAD]
    p = np.bincount(tgt, minlength=V) + 1.0
    p /= p.sum()
    return float(-np.mean(np.log2(p[tgt])))


class TinyLM(nn.Module):
    def __init__(self, d=32, heads=4, layers=2):
        super().__init__()
        self.tok = nn.Embedding(V, d)
        self.pos = nn.Embedding(T, d)
        self.blocks = [nn.TransformerEncoderLayer(d, heads, 4 * d, dropout=0.0, norm_first=True)
                       for _ in range(layers)]
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, V)

    def __call__(self, x):
        L = x.shape[1]
        h = self.tok(x) + self.pos(mx.arange(L))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        for b in self.blocks:
            h = b(h, mask)
        return self.head(self.ln(h))


def loss_fn(model, batch):
    x, y = batch[:, :-1], batch[:, 1:]
    logits = model(x)
    w = (y != PAD).astype(mx.float32)
    ce = nn.losses.cross_entropy(logits, y, reduction="none")
    return (ce * w).sum() / w.sum()


def eval_bits(model, ids):
    return loss_fn(model, mx.array(ids)).item() / math.log(2)


def train_stage(name, model, opt, tr, va, steps, bs, report, uni_va):
    step_fn = nn.value_and_grad(model, loss_fn)
    t0 = time.time()
    for s in range(1, steps + 1):
        idx = rng.integers(0, len(tr), size=bs)
        loss, g = step_fn(model, mx.array(tr[idx]))
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        if s == 1 or s % report == 0:
            vb = eval_bits(model, va)
            print(f"[{name}] step {s:4d}  train_nats {loss.item():.3f}  val_bits/char {vb:.3f}  "
                  f"saved_vs_unigram {uni_va - vb:+.3f}  ({time.time() - t0:.1f}s)")
    return eval_bits(model, va)


def main():
    b_ids, s_ids = encode(broad), encode(series)
    b_tr, b_va = b_ids[:3800], b_ids[3800:]
    s_tr, s_va = s_ids[:700], s_ids[700:]
    uni_b, uni_s = unigram_bits(b_va), unigram_bits(s_va)
    print(f"vocab {V}  broad {len(broad)}  series {len(series)}")
    print(f"unigram baseline: broad {uni_b:.3f} bits/char, series {uni_s:.3f} bits/char")

    model = TinyLM()
    mx.eval(model.parameters())
    opt = optim.AdamW(learning_rate=optim.cosine_decay(3e-3, 160, 3e-4), weight_decay=0.01)
    train_stage("A broad", model, opt, b_tr, b_va, 160, 32, 40, uni_b)
    before = eval_bits(model, s_va)
    print(f"series val before stage B: {before:.3f} bits/char (saved {uni_s - before:+.3f})")

    # stage B data: the series plus a replay slice of the broad library
    replay = b_tr[rng.choice(len(b_tr), size=350, replace=False)]
    mix_tr = np.concatenate([s_tr, replay], axis=0)
    opt_b = optim.AdamW(learning_rate=3e-4, weight_decay=0.01)
    after = train_stage("B series+replay", model, opt_b, mix_tr, s_va, 80, 32, 20, uni_s)
    broad_after = eval_bits(model, b_va)
    print(f"series val after stage B: {after:.3f} bits/char (was {before:.3f}); broad val now {broad_after:.3f}")


if __name__ == "__main__":
    main()
