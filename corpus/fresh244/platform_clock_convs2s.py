"""Station announcer phrases -> 24-hour timetable digits.

A small convolutional encoder-decoder in the ConvS2S manner: GLU conv blocks in the
encoder, causal GLU conv blocks in the decoder, dot-product attention from every
decoder block to the encoder output. Teacher forcing for training, greedy decoding
for the held-out check.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

HOURS = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
         "eleven", "twelve"]
MINUTE_WORDS = ["five", "ten", "twenty", "twenty-five"]
SRC_WORDS = ["<pad>", "o'clock", "half", "quarter", "past", "to", "minutes", "in", "the",
             "morning", "afternoon", "evening", "at", "night", "departs"] + HOURS + ["twenty", "twenty-five"]
SRC_WORDS = list(dict.fromkeys(SRC_WORDS))
SRC = {w: i for i, w in enumerate(SRC_WORDS)}
TGT = {"<pad>": 0, "<bos>": 1, "<eos>": 2, **{str(d): 3 + d for d in range(10)}}
SRC_LEN, TGT_LEN = 10, 6  # target: <bos> h h m m <eos>


def period_words(h24):
    if h24 < 12:
        return ["in", "the", "morning"]
    if h24 < 17:
        return ["in", "the", "afternoon"]
    if h24 < 21:
        return ["in", "the", "evening"]
    return ["at", "night"]


def phrase(rng, stage):
    h24 = int(rng.integers(0, 24))
    kinds = ["oclock", "half", "qpast", "qto"] + (["mpast", "mto"] if stage == 2 else [])
    kind = kinds[rng.integers(len(kinds))]
    m = {"oclock": 0, "half": 30, "qpast": 15, "qto": 45}.get(kind)
    if kind in ("mpast", "mto"):
        mw = MINUTE_WORDS[rng.integers(4)]
        mins = {"five": 5, "ten": 10, "twenty": 20, "twenty-five": 25}[mw]
        m = mins if kind == "mpast" else 60 - mins
    # the spoken hour is the next hour for "to" phrases
    spoken = h24 if m <= 30 else (h24 + 1) % 24
    hw = HOURS[(spoken % 12) - 1]
    if kind == "oclock":
        words = [hw, "o'clock"]
    elif kind == "half":
        words = ["half", "past", hw]
    elif kind == "qpast":
        words = ["quarter", "past", hw]
    elif kind == "qto":
        words = ["quarter", "to", hw]
    elif kind == "mpast":
        words = [mw, "minutes", "past", hw]
    else:
        words = [mw, "minutes", "to", hw]
    words = ["departs"] + words + period_words(h24)
    digits = f"{h24:02d}{m:02d}"
    return words, digits


def batch(rng, n, stage):
    src = np.zeros((n, SRC_LEN), np.int32)
    tgt = np.zeros((n, TGT_LEN), np.int32)
    for i in range(n):
        words, digits = phrase(rng, stage)
        src[i, :len(words)] = [SRC[w] for w in words]
        tgt[i] = [TGT["<bos>"]] + [TGT[d] for d in digits] + [TGT["<eos>"]]
    return mx.array(src), mx.array(tgt)


class GLUConv(nn.Module):
    """Width-k 1-D convolution written as a Linear over k stacked shifted copies."""

    def __init__(self, dim, k, causal):
        super().__init__()
        self.k, self.causal = k, causal
        self.proj = nn.Linear(k * dim, 2 * dim)

    def __call__(self, x):
        T = x.shape[1]
        if self.causal:
            x = mx.pad(x, [(0, 0), (self.k - 1, 0), (0, 0)])
        else:
            x = mx.pad(x, [(0, 0), (self.k // 2, self.k // 2), (0, 0)])
        taps = mx.concatenate([x[:, j:j + T] for j in range(self.k)], axis=-1)
        a, b = mx.split(self.proj(taps), 2, axis=-1)
        return a * mx.sigmoid(b)


class ConvSeq2Seq(nn.Module):
    def __init__(self, n_src, n_tgt, dim=32, k=3, enc_layers=2, dec_layers=2):
        super().__init__()
        self.src_emb = nn.Embedding(n_src, dim)
        self.tgt_emb = nn.Embedding(n_tgt, dim)
        self.src_pos = nn.Embedding(SRC_LEN, dim)
        self.tgt_pos = nn.Embedding(TGT_LEN, dim)
        self.enc = [GLUConv(dim, k, causal=False) for _ in range(enc_layers)]
        self.dec = [GLUConv(dim, k, causal=True) for _ in range(dec_layers)]
        self.att_q = [nn.Linear(dim, dim) for _ in range(dec_layers)]
        self.att_o = [nn.Linear(dim, dim) for _ in range(dec_layers)]
        self.head = nn.Linear(dim, n_tgt)
        self.scale = math.sqrt(0.5)

    def encode(self, src):
        e = self.src_emb(src) + self.src_pos(mx.arange(src.shape[1]))
        z = e
        for blk in self.enc:
            z = (blk(z) + z) * self.scale
        pad = (src == 0)[:, None, :]
        # ConvS2S: keys are the encoder output, values add the input embedding back
        return z, z + e, pad

    def decode(self, tgt_in, memory):
        keys, values, pad = memory
        g = self.tgt_emb(tgt_in) + self.tgt_pos(mx.arange(tgt_in.shape[1]))
        h = g
        for blk, q_proj, o_proj in zip(self.dec, self.att_q, self.att_o):
            c = blk(h)
            q = (q_proj(c) + g) * self.scale
            scores = (q @ keys.transpose(0, 2, 1)) / math.sqrt(q.shape[-1])
            scores = mx.where(pad, -1e9, scores)
            ctx = mx.softmax(scores, axis=-1) @ values
            c = (c + o_proj(ctx)) * self.scale
            h = (c + h) * self.scale
        return self.head(h)

    def __call__(self, src, tgt_in):
        return self.decode(tgt_in, self.encode(src))


def loss_fn(model, src, tgt):
    logits = model(src, tgt[:, :-1])
    return mx.mean(nn.losses.cross_entropy(logits, tgt[:, 1:]))


def greedy(model, src):
    memory = model.encode(src)
    out = mx.full((src.shape[0], 1), TGT["<bos>"], dtype=mx.int32)
    for _ in range(TGT_LEN - 1):
        nxt = mx.argmax(model.decode(out, memory)[:, -1], axis=-1).astype(mx.int32)
        out = mx.concatenate([out, nxt[:, None]], axis=1)
    return out


def held_out(model, src, tgt):
    pred = greedy(model, src)
    digit_acc = mx.mean(pred[:, 1:5] == tgt[:, 1:5]).item()
    exact = mx.mean(mx.all(pred[:, 1:5] == tgt[:, 1:5], axis=1)).item()
    return digit_acc, exact


def main():
    rng = np.random.default_rng(2024)
    mx.random.seed(2024)
    model = ConvSeq2Seq(len(SRC_WORDS), len(TGT))
    mx.eval(model.parameters())
    n_params = sum(v.size for _, v in __import__("mlx.utils", fromlist=["tree_flatten"]).tree_flatten(model.parameters()))
    loss_and_grad = nn.value_and_grad(model, loss_fn)

    test_sets = {s: batch(np.random.default_rng(99 + s), 200, s) for s in (1, 2)}
    # reference: the digits "1200" for everything, i.e. knowing nothing of the phrase
    for s in (1, 2):
        t = test_sets[s][1]
        ref = mx.array([[TGT["1"], TGT["2"], TGT["0"], TGT["0"]]])
        print(f"reference ; stage={s} ; noon_guess_digit_acc={mx.mean(t[:, 1:5] == ref).item():.3f}")
    print(f"model ; params={n_params} ; src_vocab={len(SRC_WORDS)} ; tgt_vocab={len(TGT)}")

    plan = [(1, 300, 0.1), (2, 400, 0.1)]
    t0 = time.perf_counter()
    for stage, steps, peak in plan:
        warm = 60
        sched = optim.join_schedules(
            [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, steps - warm, peak * 0.05)], [warm])
        opt = optim.Adagrad(learning_rate=sched)
        before = held_out(model, *test_sets[stage])
        print(f"stage {stage} begins ; held_out_digit_acc={before[0]:.3f} ; held_out_exact={before[1]:.3f}")
        window = []
        for step in range(1, steps + 1):
            lr_now = sched(opt.step).item()
            src, tgt = batch(rng, 32, stage)
            loss, grads = loss_and_grad(model, src, tgt)
            if stage == 1 and step == 1:
                flat = __import__("mlx.utils", fromlist=["tree_flatten"]).tree_flatten(grads)
                zero = [k for k, g in flat if mx.abs(g).sum().item() == 0.0]
                print(f"grads ; leaves={len(flat)} ; all_zero={zero} ; lr_at_step1={lr_now:.4f}")
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            window.append(loss.item())
            if step % 100 == 0:
                acc, exact = held_out(model, *test_sets[stage])
                print(f"stage {stage} ; step {step:4d}/{steps} ; lr={lr_now:.4f} ; "
                      f"ce={np.mean(window):.4f} ; held_out_digit_acc={acc:.3f} ; "
                      f"held_out_exact={exact:.3f} ; t={time.perf_counter() - t0:.1f}s")
                window = []
    for s in (1, 2):
        acc, exact = held_out(model, *test_sets[s])
        print(f"final ; stage_{s}_phrases ; digit_acc={acc:.3f} ; exact={exact:.3f}")
    src, tgt = test_sets[2]
    pred = greedy(model, src[:4])
    inv_src = {i: w for w, i in SRC.items()}
    inv_tgt = {i: w for w, i in TGT.items()}
    for i in range(4):
        words = " ".join(inv_src[int(t)] for t in np.array(src[i]) if t != 0)
        out = "".join(inv_tgt[int(t)] for t in np.array(pred[i, 1:5]))
        ref = "".join(inv_tgt[int(t)] for t in np.array(tgt[i, 1:5]))
        print(f"sample ; {words!r} -> {out} (timetable {ref})")


if __name__ == "__main__":
    main()
