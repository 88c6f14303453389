"""ELECTRA-style pre-training on synthetic mountain-hut visitor-book entries.

Each entry is 10 fields (hut, route, month, weather, party, guide, start hour,
summit, back hour, remark). A small masked-token generator fills 25% of the
fields; a discriminator (sharing the token table) marks every field as
original or replaced. Joint loss = generator CE + 20 * discriminator BCE.

As the generator gets better its fills are more often the true value (those
count as original) and the other fills are more plausible, so the
discriminator's task gets harder while both nets improve.

Reports are top-like blocks.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

# field vocab sizes and offsets
SIZES = [8, 24, 6, 5, 6, 2, 6, 2, 12, 10]
OFF = np.cumsum([0] + SIZES[:-1]) + 2          # 0 = pad (unused), 1 = mask
MASK = 1
VOCAB = int(OFF[-1] + SIZES[-1])
F = len(SIZES)
DISC_W = 20.0


def make_entries(n, seed):
    r = np.random.default_rng(seed)
    hut = r.integers(0, 8, n)
    route = hut * 3 + r.choice(3, n, p=[0.5, 0.3, 0.2])
    month = r.integers(0, 6, n)                                   # Jun..Nov
    wet = np.array([0.15, 0.1, 0.1, 0.25, 0.45, 0.6])[month]
    weather = np.where(r.random(n) < wet, r.integers(3, 5, n), r.integers(0, 3, n))
    party = np.clip(r.poisson(1.6, n), 0, 5)
    guide = (party >= 3) & (r.random(n) < 0.7)
    start = np.clip((route % 3) + r.integers(0, 3, n), 0, 5)      # 4am..9am
    p_sum = np.where(weather >= 3, 0.15, 0.85)
    summit = r.random(n) < p_sum
    dur = 4 + (route % 3) * 2 + summit * 3 + r.integers(0, 2, n)
    back = np.clip(start + dur - 4, 0, 11)
    remark = r.integers(0, 10, n)                                  # free text: no signal
    fields = np.stack([hut, route, month, weather, party, guide.astype(int), start,
                       summit.astype(int), back, remark], axis=1)
    return (fields + OFF[None, :]).astype(np.int32)


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.att = nn.MultiHeadAttention(d, heads)
        self.ln2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))

    def __call__(self, x):
        h = self.ln1(x)
        x = x + self.att(h, h, h)
        return x + self.mlp(self.ln2(x))


class Electra(nn.Module):
    def __init__(self, d=32):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, d)              # shared by both nets
        self.pos = nn.Embedding(F, d)
        self.gen_block = Block(d, 2)
        self.gen_ln = nn.LayerNorm(d)
        self.dis_block1 = Block(d, 2)
        self.dis_block2 = Block(d, 2)
        self.dis_ln = nn.LayerNorm(d)
        self.dis_head = nn.Linear(d, 1)

    def embed(self, t):
        return self.tok(t) + self.pos(mx.arange(F))[None]

    def generator(self, t):
        return self.tok.as_linear(self.gen_ln(self.gen_block(self.embed(t))))

    def discriminator(self, t):
        h = self.dis_block2(self.dis_block1(self.embed(t)))
        return self.dis_head(self.dis_ln(h)).squeeze(-1)


def joint_loss(model, tok, pick):
    gen_in = mx.where(pick, MASK, tok)
    g_logits = model.generator(gen_in)
    g_ce = nn.losses.cross_entropy(g_logits, tok, reduction="none")
    pf = pick.astype(mx.float32)
    gen_loss = (g_ce * pf).sum() / mx.maximum(pf.sum(), 1.0)
    fills = mx.random.categorical(mx.stop_gradient(g_logits))
    dis_in = mx.where(pick, fills, tok)
    replaced = (dis_in != tok).astype(mx.float32)
    d_logits = model.discriminator(mx.stop_gradient(dis_in))
    dis_loss = nn.losses.binary_cross_entropy(d_logits, replaced, with_logits=True, reduction="mean")
    total = gen_loss + DISC_W * dis_loss
    return total, (gen_loss, dis_loss, replaced.mean(), ((d_logits > 0) == (replaced > 0)).mean())


def auc(scores, labels):
    order = np.argsort(scores)
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    pos = labels.sum()
    neg = len(labels) - pos
    return (ranks[labels == 1].sum() - pos * (pos + 1) / 2) / max(pos * neg, 1)


def main():
    mx.random.seed(3)
    train = make_entries(8000, 1)
    held = make_entries(600, 2)
    model = Electra()
    mx.eval(model.parameters())

    warm = 30
    sched = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, warm),
                                  lambda s: mx.array(2e-3)], [warm])
    opt = optim.Adam(learning_rate=sched)
    vg = nn.value_and_grad(model, joint_loss)

    r = np.random.default_rng(4)
    hold_pick = mx.array(np.random.default_rng(8).random(held.shape) < 0.25)
    B, STEPS = 64, 360
    print(f"visitor-book ELECTRA: {len(train)} entries x {F} fields, vocab {VOCAB}, "
          f"generator+discriminator share the token table; loss = gen_ce + {DISC_W:g} * dis_bce")
    print(f"reference: uniform guess per masked field ~ {np.mean([math.log(s) for s in SIZES]):.3f} nats")
    t0 = time.time()
    acc_hist = []
    for step in range(1, STEPS + 1):
        idx = r.integers(0, len(train), B)
        tok = mx.array(train[idx])
        pick = mx.array(r.random((B, F)) < 0.25)
        lr_now = float(sched(mx.array(opt.step)))
        (loss, aux), grads = vg(model, tok, pick)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, aux)
        acc_hist.append([float(x) for x in aux])
        if step == 1 or step % 60 == 0:
            hm = np.array(acc_hist).mean(axis=0)
            acc_hist = []
            (hl, (hg, hd, hrep, hacc)) = joint_loss(model, mx.array(held), hold_pick)
            print(f"--- step {step:4d}/{STEPS}  lr {lr_now:.2e}  up {time.time() - t0:5.1f}s ---")
            print(f"  train   gen_ce {hm[0]:.3f}  dis_bce {hm[1]:.4f}  replaced {100 * hm[2]:5.1f}%  "
                  f"dis_acc {100 * hm[3]:5.1f}%  all-original {100 * (1 - hm[2]):5.1f}%")
            q = min(max(float(hrep), 1e-6), 1 - 1e-6)
            base = -(q * math.log(q) + (1 - q) * math.log(1 - q))
            print(f"  held    gen_ce {float(hg):.3f}  dis_bce {float(hd):.4f}  replaced {100 * float(hrep):5.1f}%  "
                  f"dis_acc {100 * float(hacc):5.1f}%  all-original {100 * (1 - float(hrep)):5.1f}%  "
                  f"base-rate bce {base:.4f}")

    # final: how well the discriminator flags fields swapped with a random value of the same field
    rr = np.random.default_rng(21)
    swapped = held.copy()
    lab = rr.random(held.shape) < 0.15
    for f in range(F):
        alt = rr.integers(0, SIZES[f], len(held)) + OFF[f]
        swapped[lab[:, f], f] = alt[lab[:, f]]
    lab = swapped != held
    scores = np.array(model.discriminator(mx.array(swapped)))
    a = auc(scores.ravel(), lab.ravel().astype(int))
    per_field = [auc(scores[:, f], lab[:, f].astype(int)) for f in range(F)]
    print(f"--- done  up {time.time() - t0:5.1f}s ---")
    print(f"  random-swap detection AUC {a:.3f} (chance 0.500); per field: " +
          " ".join(f"{x:.2f}" for x in per_field))


if __name__ == "__main__":
    main()
