"""Harbour pilot phrasebook: translate short radio phrases from a verb-final
source language (adjective before noun, plural and object endings) into a
verb-second target language (adjective after noun, adverb at the end).

Tiny transformer encoder-decoder (one layer each, pre-LN, learned positions),
teacher forcing with label-smoothed cross entropy, AdamW with a linear warm-up
that starts at exactly 0 and then a cosine decay.  Metrics are emitted as
statsd gauge lines.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

# ---------------------------------------------------------------- vocabularies
N_NOUN, N_ADJ, N_VERB, N_ADV = 8, 6, 8, 4
S_PAD, S_BOS, S_EOS = 0, 1, 2
S_NOUN = 3
S_ADJ = S_NOUN + N_NOUN
S_VERB = S_ADJ + N_ADJ
S_ADV = S_VERB + N_VERB
S_PL = S_ADV + N_ADV
S_ACC = S_PL + 1
SRC_V = S_ACC + 1

T_PAD, T_BOS, T_EOS = 0, 1, 2
T_NOUN_SG = 3
T_NOUN_PL = T_NOUN_SG + N_NOUN
T_ADJ = T_NOUN_PL + N_NOUN
T_VERB = T_ADJ + N_ADJ
T_ADV = T_VERB + N_VERB
TGT_V = T_ADV + N_ADV

SRC_LEN, TGT_LEN = 10, 8
LABEL_SMOOTHING = 0.1


def make_pairs(rng, n):
    src = np.zeros((n, SRC_LEN), np.int32)
    tgt = np.zeros((n, TGT_LEN), np.int32)
    gloss = np.zeros((n, TGT_LEN), np.int32)  # word-by-word in source order
    for i in range(n):
        ns, no = rng.integers(N_NOUN, size=2)
        ps, po = rng.random(2) < 0.35
        a_s = rng.integers(N_ADJ) if rng.random() < 0.5 else -1
        a_o = rng.integers(N_ADJ) if rng.random() < 0.5 else -1
        adv = rng.integers(N_ADV) if rng.random() < 0.4 else -1
        v = rng.integers(N_VERB)
        s, t, g = [], [], []
        # source: [adj] N [PL] [adj] N [PL] ACC [adv] V EOS
        if a_s >= 0:
            s.append(S_ADJ + a_s)
            g.append(T_ADJ + a_s)
        s.append(S_NOUN + ns)
        g.append(T_NOUN_SG + ns)
        if ps:
            s.append(S_PL)
        if a_o >= 0:
            s.append(S_ADJ + a_o)
            g.append(T_ADJ + a_o)
        s.append(S_NOUN + no)
        g.append(T_NOUN_SG + no)
        if po:
            s.append(S_PL)
        s.append(S_ACC)
        if adv >= 0:
            s.append(S_ADV + adv)
            g.append(T_ADV + adv)
        s.append(S_VERB + v)
        g.append(T_VERB + v)
        s.append(S_EOS)
        g.append(T_EOS)
        # target: N(sg/pl) [adj] V N(sg/pl) [adj] [adv] EOS
        t.append((T_NOUN_PL if ps else T_NOUN_SG) + ns)
        if a_s >= 0:
            t.append(T_ADJ + a_s)
        t.append(T_VERB + v)
        t.append((T_NOUN_PL if po else T_NOUN_SG) + no)
        if a_o >= 0:
            t.append(T_ADJ + a_o)
        if adv >= 0:
            t.append(T_ADV + adv)
        t.append(T_EOS)
        src[i, : len(s)] = s
        tgt[i, : len(t)] = t
        gloss[i, : len(g)] = g
    return src, tgt, gloss


# ----------------------------------------------------------------------- model
class EncLayer(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = nn.MultiHeadAttention(d, h)
        self.ln2 = nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def __call__(self, x, src_mask):
        y = self.ln1(x)
        x = x + self.attn(y, y, y, src_mask)
        return x + self.ff(self.ln2(x))


class DecLayer(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.self_attn = nn.MultiHeadAttention(d, h)
        self.ln2 = nn.LayerNorm(d)
        self.cross_attn = nn.MultiHeadAttention(d, h)
        self.ln3 = nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def __call__(self, x, memory, causal, mem_mask):
        y = self.ln1(x)
        x = x + self.self_attn(y, y, y, causal)
        y = self.ln2(x)
        x = x + self.cross_attn(y, memory, memory, mem_mask)
        return x + self.ff(self.ln3(x))


class PhraseTranslator(nn.Module):
    def __init__(self, d=32, heads=4):
        super().__init__()
        self.src_emb = nn.Embedding(SRC_V, d)
        self.tgt_emb = nn.Embedding(TGT_V, d)
        self.src_pos = nn.Embedding(SRC_LEN, d)
        self.tgt_pos = nn.Embedding(TGT_LEN, d)
        self.enc = EncLayer(d, heads)
        self.enc_ln = nn.LayerNorm(d)
        self.dec = DecLayer(d, heads)
        self.dec_ln = nn.LayerNorm(d)
        self.out = nn.Linear(d, TGT_V)

    @staticmethod
    def pad_mask(src):
        # additive mask over keys, shape (B, 1, 1, S)
        return mx.where(src == S_PAD, -1e9, 0.0)[:, None, None, :]

    def encode(self, src):
        x = self.src_emb(src) + self.src_pos(mx.arange(src.shape[1]))
        return self.enc_ln(self.enc(x, self.pad_mask(src)))

    def decode(self, dec_in, memory, mem_mask):
        L = dec_in.shape[1]
        causal = nn.MultiHeadAttention.create_additive_causal_mask(L)
        y = self.tgt_emb(dec_in) + self.tgt_pos(mx.arange(L))
        return self.out(self.dec_ln(self.dec(y, memory, causal, mem_mask)))

    def __call__(self, src, dec_in):
        return self.decode(dec_in, self.encode(src), self.pad_mask(src))


def shift_right(tgt):
    bos = mx.full((tgt.shape[0], 1), T_BOS, dtype=tgt.dtype)
    return mx.concatenate([bos, tgt[:, :-1]], axis=1)


def loss_fn(model, src, tgt):
    logits = model(src, shift_right(tgt))
    keep = (tgt != T_PAD).astype(mx.float32)
    ce = nn.losses.cross_entropy(logits, tgt, label_smoothing=LABEL_SMOOTHING)
    return (ce * keep).sum() / keep.sum()


def greedy(model, src):
    memory = model.encode(src)
    mem_mask = model.pad_mask(src)
    dec_in = mx.full((src.shape[0], 1), T_BOS, dtype=mx.int32)
    for _ in range(TGT_LEN):
        nxt = mx.argmax(model.decode(dec_in, memory, mem_mask)[:, -1], axis=-1)
        dec_in = mx.concatenate([dec_in, nxt[:, None].astype(mx.int32)], axis=1)
    return np.array(dec_in[:, 1:])


def score(pred, tgt):
    """exact-match % and token accuracy % over reference positions (incl. EOS),
    everything after the first predicted EOS counts as padding."""
    pred = pred.copy()
    for row in pred:
        hits = np.where(row == T_EOS)[0]
        if len(hits):
            row[hits[0] + 1 :] = T_PAD
    ref_mask = tgt != T_PAD
    tok = (pred == tgt)[ref_mask].mean() * 100
    exact = np.all(pred == tgt, axis=1).mean() * 100
    return exact, tok


def smoothed_floor(V, eps):
    hi = 1 - eps + eps / V
    lo = eps / V
    return -(hi * math.log(hi) + (V - 1) * lo * math.log(lo))


def gauge(name, value, **tags):
    tag = ",".join(f"{k}:{v}" for k, v in tags.items())
    print(f"pilotbook.{name}:{value}|g" + (f"|#{tag}" if tag else ""), flush=True)


def main():
    mx.random.seed(7)
    rng = np.random.default_rng(7)
    val_src, val_tgt, val_gloss = make_pairs(np.random.default_rng(2024), 300)
    val_src_mx = mx.array(val_src)

    model = PhraseTranslator()
    mx.eval(model.parameters())
    n_params = sum(v.size for _, v in tree_flatten(model.parameters()))

    steps, warm, batch = 420, 60, 32
    peak = 3e-3
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm),
         optim.cosine_decay(peak, steps - warm, 1e-5)],
        [warm],
    )
    opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)
    loss_and_grad = nn.value_and_grad(model, loss_fn)

    gauge("setup.params", n_params)
    gauge("setup.src_vocab", SRC_V)
    gauge("setup.tgt_vocab", TGT_V)
    g_exact, g_tok = score(val_gloss, val_tgt)
    gauge("baseline.gloss_exact_pct", f"{g_exact:.1f}", note="word_by_word")
    gauge("baseline.gloss_token_pct", f"{g_tok:.1f}", note="word_by_word")
    gauge("baseline.ls_ce_floor", f"{smoothed_floor(TGT_V, LABEL_SMOOTHING):.4f}",
          note="label_smoothing_entropy")

    t0 = time.time()
    window = []
    for step in range(1, steps + 1):
        src, tgt, _ = make_pairs(rng, batch)
        src, tgt = mx.array(src), mx.array(tgt)
        lr_now = float(sched(opt.step))
        loss, grads = loss_and_grad(model, src, tgt)
        if step == 1:
            leaves = tree_flatten(grads)
            nz = sum(1 for _, g in leaves if float(mx.abs(g).max()) > 0)
            gauge("check.grad_leaves_nonzero", nz, of=len(leaves), lr=f"{lr_now:.1e}")
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if step % 30 == 0:
            gauge("train.ls_ce", f"{np.mean(window):.4f}", step=step,
                  lr=f"{lr_now:.2e}")
            window = []
        if step % 140 == 0:
            exact, tok = score(greedy(model, val_src_mx), val_tgt)
            gauge("eval.exact_pct", f"{exact:.1f}", step=step)
            gauge("eval.token_pct", f"{tok:.1f}", step=step)
            gauge("eval.elapsed_s", f"{time.time() - t0:.1f}", step=step)

    exact, tok = score(greedy(model, val_src_mx), val_tgt)
    gauge("final.exact_pct", f"{exact:.1f}")
    gauge("final.token_pct", f"{tok:.1f}")
    gauge("final.done", 1)


if __name__ == "__main__":
    main()
