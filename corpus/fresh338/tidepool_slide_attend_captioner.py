"""Tide-pool slide captioner with soft attention (show-attend-tell style).

A synthetic microscope slide is a 4x4 grid of region descriptors. One region
holds an organism, another holds a stain marker. The field note reads
"<organism> <row> <col> <stain> <eos>". Organism prototype 4 is a look-alike
that field staff log as "alga" or "diatom" at random, so one caption token has
an irreducible ln(2)/5 nats of loss per token on those slides; the held-out
loss cannot go below that floor, which is printed next to it.

Schedule: linear warm-up from exactly 0 for 60 steps, then cosine decay.
Logging is sparse on purpose (a long quiet stretch between reports).
"""
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

ORGS = ["limpet", "barnacle", "anemone", "copepod", "alga", "diatom"]
STAINS = ["iodine", "eosin", "methylene"]
ROWS = ["r0", "r1", "r2", "r3"]
COLS = ["c0", "c1", "c2", "c3"]
VOCAB = ["<bos>", "<eos>"] + ORGS + ROWS + COLS + STAINS
W2I = {w: i for i, w in enumerate(VOCAB)}
BOS, EOS = W2I["<bos>"], W2I["<eos>"]
T = 5
D_REG = 16


def make_slides(rng, n, org_protos, stain_protos):
    regs = rng.normal(0.0, 0.5, (n, 16, D_REG)).astype(np.float32)
    caps = np.zeros((n, T), dtype=np.int32)
    ambiguous = np.zeros(n, dtype=bool)
    for k in range(n):
        o = rng.integers(5)
        p_org, p_st = rng.choice(16, 2, replace=False)
        s = rng.integers(3)
        regs[k, p_org] += org_protos[o]
        regs[k, p_st] += stain_protos[s]
        if o == 4:
            word = "alga" if rng.random() < 0.5 else "diatom"
            ambiguous[k] = True
        else:
            word = ORGS[o]
        caps[k] = [W2I[word], W2I[ROWS[p_org // 4]], W2I[COLS[p_org % 4]], W2I[STAINS[s]], EOS]
    # region position code so the decoder can read off row / column
    pos = np.eye(16, dtype=np.float32)
    regs = np.concatenate([regs, np.broadcast_to(pos, (n, 16, 16))], axis=-1)
    return regs, caps, ambiguous


class AttendCaptioner(nn.Module):
    def __init__(self, d_in=D_REG + 16, d=48, vocab=len(VOCAB)):
        super().__init__()
        self.reg = nn.Linear(d_in, d)
        self.h0 = nn.Linear(d, d)
        self.emb = nn.Embedding(vocab, d)
        self.att_q = nn.Linear(d, d)
        self.att_v = nn.Linear(d, 1)
        self.gru = nn.GRU(2 * d, d)
        self.out = nn.Linear(2 * d, vocab)

    def attend(self, feats, h):
        e = self.att_v(mx.tanh(feats + self.att_q(h)[:, None, :]))[..., 0]
        alpha = mx.softmax(e, axis=-1)
        ctx = (alpha[..., None] * feats).sum(axis=1)
        return ctx, alpha

    def __call__(self, regs, inp):
        feats = nn.relu(self.reg(regs))
        h = mx.tanh(self.h0(feats.mean(axis=1)))
        logits, alphas = [], []
        for t in range(inp.shape[1]):
            ctx, alpha = self.attend(feats, h)
            x = mx.concatenate([self.emb(inp[:, t]), ctx], axis=-1)[:, None, :]
            h = self.gru(x, hidden=h)[:, -1, :]
            logits.append(self.out(mx.concatenate([h, ctx], axis=-1)))
            alphas.append(alpha)
        return mx.stack(logits, axis=1), mx.stack(alphas, axis=1)

    def greedy(self, regs):
        tok = mx.full((regs.shape[0],), BOS, dtype=mx.int32)
        out = []
        feats = nn.relu(self.reg(regs))
        h = mx.tanh(self.h0(feats.mean(axis=1)))
        for _ in range(T):
            ctx, _ = self.attend(feats, h)
            x = mx.concatenate([self.emb(tok), ctx], axis=-1)[:, None, :]
            h = self.gru(x, hidden=h)[:, -1, :]
            tok = mx.argmax(self.out(mx.concatenate([h, ctx], axis=-1)), axis=-1)
            out.append(tok)
        return mx.stack(out, axis=1)


def loss_fn(model, regs, caps, lam):
    inp = mx.concatenate([mx.full((caps.shape[0], 1), BOS, dtype=mx.int32), caps[:, :-1]], axis=1)
    logits, alphas = model(regs, inp)
    ce = nn.losses.cross_entropy(logits, caps, reduction="mean")
    # doubly stochastic attention: every region should be looked at ~T/16 times overall
    cover = alphas.sum(axis=1)
    reg = ((T / 16.0 - cover) ** 2).mean()
    return ce + lam * reg, ce


def main():
    t0 = time.time()
    rng = np.random.default_rng(3)
    mx.random.seed(3)
    org_protos = rng.normal(0, 1.0, (5, D_REG)).astype(np.float32) * 2.0
    stain_protos = rng.normal(0, 1.0, (3, D_REG)).astype(np.float32) * 2.0
    tr = make_slides(rng, 6000, org_protos, stain_protos)
    va = make_slides(rng, 1000, org_protos, stain_protos)
    tr_x, tr_y = mx.array(tr[0]), mx.array(tr[1])
    va_x, va_y = mx.array(va[0]), mx.array(va[1])
    amb_frac = tr[2].mean()
    floor = amb_frac * math.log(2) / T
    print(f"slides train={tr_x.shape[0]} held-out={va_x.shape[0]} look-alike share={amb_frac:.3f}")
    print(f"irreducible token loss floor ~ {floor:.4f} nats (look-alike organism naming)")
    print(f"chance token loss = {math.log(len(VOCAB)):.3f}")

    model = AttendCaptioner()
    mx.eval(model.parameters())
    warm, total, peak = 60, 1500, 4e-3
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, total - warm, 1e-5)], [warm])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    step_fn = nn.value_and_grad(model, loss_fn)
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def train_step(x, y):
        (loss, ce), grads = step_fn(model, x, y, 0.5)
        opt.update(model, grads)
        return loss, ce

    bs = 32
    report = {1, 2, 60, 500, 1000, 1500}
    for it in range(1, total + 1):
        idx = mx.array(rng.integers(0, tr_x.shape[0], bs))
        lr_now = sched(opt.step).item()
        loss, ce = train_step(tr_x[idx], tr_y[idx])
        mx.eval(state, loss, ce)
        if it in report:
            pred = model.greedy(va_x)
            slot = (pred == va_y).astype(mx.float32).mean(axis=0)
            va_ce = loss_fn(model, va_x, va_y, 0.5)[1].item()
            print(f"step {it:4d} lr={lr_now:.2e} loss={loss.item():.4f} ce={ce.item():.4f} "
                  f"heldout ce={va_ce:.4f} (floor {floor:.4f}) slot acc org={slot[0].item():.3f} "
                  f"row={slot[1].item():.3f} col={slot[2].item():.3f} stain={slot[3].item():.3f}")

    pred = np.array(model.greedy(va_x))
    gold = va[1]
    amb = va[2]
    clear_org = (pred[~amb, 0] == gold[~amb, 0]).mean()
    amb_org = np.isin(pred[amb, 0], [W2I["alga"], W2I["diatom"]]).mean()
    where = ((pred[:, 1] == gold[:, 1]) & (pred[:, 2] == gold[:, 2])).mean()
    print(f"final: organism acc on unambiguous slides={clear_org:.3f}, look-alikes named alga/diatom={amb_org:.3f}")
    print(f"final: position (row+col) acc={where:.3f} (chance 0.0625)")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
