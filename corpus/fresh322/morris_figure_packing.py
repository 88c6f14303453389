"""Next-figure model for morris-dance callers' notebooks.

Each notebook entry is one dance: a tradition tag followed by 6..30 figure
tokens drawn from that tradition's habits (a first-order chain, with 15% of
figures called at random, which sets an irreducible loss floor).

Pipeline: greedy sequence packing into rows of 64 tokens with segment ids and a
block-diagonal causal mask; a per-epoch iterator that is allowed to run dry and
is rebuilt with a fresh shuffle; Lion with linear warmup from exactly 0 and a
cosine tail; a mid-run checkpoint to safetensors, then a resume into fresh
objects. Reports are sparse on purpose.
"""
import math
import os
import tempfile

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

np.random.seed(0)
mx.random.seed(0)

N_FIG = 12
TRADITIONS = 4
PAD, SEP = 0, 1
FIG0 = 2
TAG0 = FIG0 + N_FIG
VOCAB = TAG0 + TRADITIONS
ROW = 64
NOISE = 0.15

rng = np.random.default_rng(5)
# each tradition strongly prefers 2 successors per figure
TRANS = np.zeros((TRADITIONS, N_FIG, N_FIG))
for t in range(TRADITIONS):
    for f in range(N_FIG):
        nxt = rng.choice(N_FIG, 2, replace=False)
        TRANS[t, f, nxt[0]] = 0.7
        TRANS[t, f, nxt[1]] = 0.3
TRANS = (1 - NOISE) * TRANS + NOISE / N_FIG


def make_dance(r):
    t = int(r.integers(TRADITIONS))
    n = int(r.integers(6, 31))
    figs = [int(r.integers(N_FIG))]
    for _ in range(n - 1):
        figs.append(int(r.choice(N_FIG, p=TRANS[t, figs[-1]])))
    return [TAG0 + t] + [FIG0 + f for f in figs]


def floor_nats():
    # expected entropy of the next figure given the chain state (targets after the first figure)
    h = -(TRANS * np.log(TRANS)).sum(-1).mean()
    return float(h)


def pack(dances, r):
    """Greedy first-fit packing; returns tokens, segment ids, loss mask."""
    order = r.permutation(len(dances))
    rows, cur = [], []
    for i in order:
        d = dances[i] + [SEP]
        if len(cur) + len(d) > ROW:
            rows.append(cur)
            cur = []
        cur = cur + [(tok, len(rows) * 1000 + int(i)) for tok in d]
    if cur:
        rows.append(cur)
    toks = np.full((len(rows), ROW), PAD, np.int32)
    seg = np.full((len(rows), ROW), -1, np.int32)
    for k, row in enumerate(rows):
        for j, (tok, s) in enumerate(row):
            toks[k, j] = tok
            seg[k, j] = s
    # predict position j+1 from j only inside one dance; skip the first figure after the tag
    same = (seg[:, 1:] == seg[:, :-1]) & (seg[:, 1:] >= 0)
    first_fig = np.isin(toks[:, :-1], np.arange(TAG0, VOCAB))
    lmask = same & ~first_fig & (toks[:, 1:] != SEP)
    return toks, seg, lmask.astype(np.float32)


def epoch_batches(dances, batch, r):
    toks, seg, lmask = pack(dances, r)
    perm = r.permutation(len(toks))
    for i in range(0, len(perm) - batch + 1, batch):
        b = perm[i : i + batch]
        yield mx.array(toks[b]), mx.array(seg[b]), mx.array(lmask[b])


class Block(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.h = h
        self.ln1 = nn.LayerNorm(d)
        self.ln2 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.out = nn.Linear(d, d, bias=False)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def __call__(self, x, mask):
        B, T, D = x.shape
        q, k, v = mx.split(self.qkv(self.ln1(x)), 3, axis=-1)
        sh = lambda a: a.reshape(B, T, self.h, D // self.h).transpose(0, 2, 1, 3)
        a = mx.fast.scaled_dot_product_attention(
            sh(q), sh(k), sh(v), scale=1 / math.sqrt(D // self.h), mask=mask
        )
        x = x + self.out(a.transpose(0, 2, 1, 3).reshape(B, T, D))
        return x + self.mlp(self.ln2(x))


class FigureLM(nn.Module):
    def __init__(self, d=48, h=4, layers=2):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, d)
        self.pos = nn.Embedding(ROW, d)
        self.blocks = [Block(d, h) for _ in range(layers)]
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, VOCAB)

    def __call__(self, toks, seg):
        T = toks.shape[1]
        causal = mx.tril(mx.ones((T, T), dtype=mx.bool_))
        same = seg[:, :, None] == seg[:, None, :]
        mask = (causal[None] & same)[:, None]
        x = self.emb(toks) + self.pos(mx.arange(T))
        for b in self.blocks:
            x = b(x, mask)
        return self.head(self.ln(x))


def loss_fn(model, toks, seg, lmask):
    logits = model(toks, seg)[:, :-1]
    ce = nn.losses.cross_entropy(logits, toks[:, 1:])
    return (ce * lmask).sum() / lmask.sum()


def eval_loss(model, data):
    toks, seg, lmask = data
    return loss_fn(model, toks, seg, lmask).item()


def build(total_steps, warmup):
    model = FigureLM()
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, warmup), optim.cosine_decay(3e-3, total_steps - warmup, 3e-4)],
        [warmup],
    )
    opt = optim.Lion(learning_rate=sched, weight_decay=0.05)
    return model, opt


def save_ckpt(path, model, opt, step, epoch):
    mx.save_safetensors(os.path.join(path, "model.safetensors"), dict(tree_flatten(model.parameters())))
    st = dict(tree_flatten(opt.state))
    mx.save_safetensors(os.path.join(path, "opt.safetensors"), st)
    with open(os.path.join(path, "meta.txt"), "w") as f:
        f.write(f"{step} {epoch}\n")


def load_ckpt(path, model, opt):
    model.load_weights(os.path.join(path, "model.safetensors"))
    opt.state = tree_unflatten(list(mx.load(os.path.join(path, "opt.safetensors")).items()))
    step, epoch = map(int, open(os.path.join(path, "meta.txt")).read().split())
    return step, epoch


def main():
    r = np.random.default_rng(1)
    train = [make_dance(r) for _ in range(1400)]
    valid = [make_dance(r) for _ in range(250)]
    vt, vs, vm = pack(valid, np.random.default_rng(2))
    vdata = (mx.array(vt), mx.array(vs), mx.array(vm))

    # baselines
    figs = np.concatenate([np.array(d[1:]) - FIG0 for d in train])
    p = np.bincount(figs, minlength=N_FIG) / len(figs)
    print(f"baseline uniform {math.log(N_FIG):.3f} nats | unigram {-(p * np.log(p)).sum():.3f} | "
          f"chain floor {floor_nats():.3f}")

    total, warmup, batch, ckpt_at = 240, 30, 12, 120
    model, opt = build(total, warmup)
    step, epoch = 0, 0
    it = epoch_batches(train, batch, r)
    tmp = tempfile.mkdtemp()
    vg = nn.value_and_grad(model, loss_fn)

    run = 0.0
    while step < total:
        try:
            toks, seg, lmask = next(it)
        except StopIteration:
            epoch += 1
            it = epoch_batches(train, batch, r)
            continue
        loss, grads = vg(model, toks, seg, lmask)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        lr = opt.learning_rate.item()
        step += 1
        run = loss.item() if step == 1 else 0.9 * run + 0.1 * loss.item()
        if step in (1, 2) or step % 40 == 0:
            print(f"step {step:4d} epoch {epoch} lr {lr:.2e} loss {loss.item():.3f} ema {run:.3f} "
                  f"val {eval_loss(model, vdata):.3f}")
        if step == ckpt_at:
            save_ckpt(tmp, model, opt, step, epoch)
            print(f"checkpoint at step {step}; rebuilding from disk")
            model, opt = build(total, warmup)
            step, epoch = load_ckpt(tmp, model, opt)
            vg = nn.value_and_grad(model, loss_fn)
            print(f"resumed step {step} epoch {epoch} val {eval_loss(model, vdata):.3f}")

    final = eval_loss(model, vdata)
    print(f"final val {final:.3f} nats (floor {floor_nats():.3f}, uniform {math.log(N_FIG):.3f}); epochs seen {epoch}")


if __name__ == "__main__":
    main()
