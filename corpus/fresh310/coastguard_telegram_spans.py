# Coastguard weather telegrams: T5-style span-corruption pretraining of a tiny
# encoder-decoder. Sentinel ids live at the END of the vocabulary (like T5's
# extra_ids) and the pad id 0 doubles as the decoder start token.
# Schedule: linear warm-up from exactly 0, then inverse square root.
# Curriculum: noise density 0.15 until step 200, then batches alternate between
# 0.15 and 0.30 (the training loss rises there).
# The run is split in two sessions with a checkpoint at step 150.
import math
import os
import random
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SEED = 11
random.seed(SEED)
np.random.seed(SEED)
mx.random.seed(SEED)

STATIONS = ["malin", "fastnet", "lundy", "tiree", "rockall", "dover", "wight", "forth"]
DIRS = ["north", "northeast", "east", "southeast", "south", "southwest", "west", "northwest"]
SEAS = ["smooth", "slight", "moderate", "rough", "very_rough", "high"]
VIS = ["good", "moderate", "poor", "fog"]
WX = ["fair", "showers", "rain", "squally", "drizzle"]
BASE = (["<pad>", "<eos>", "<unk>", "station", "wind", "force", "sea", "visibility",
         "weather", "veering", "backing", "later", "becoming", "stop"]
        + STATIONS + DIRS + SEAS + VIS + WX + [str(i) for i in range(3, 11)])
N_SENT = 8
VOCAB = BASE + [f"<extra_{i}>" for i in range(N_SENT)]
IDX = {w: i for i, w in enumerate(VOCAB)}
PAD, EOS = IDX["<pad>"], IDX["<eos>"]
SENT0 = len(BASE)  # first sentinel id; sentinel k = SENT0 + k


def telegram(rng):
    st = rng.choice(STATIONS)
    d = rng.randrange(8)
    force = rng.randint(3, 10)
    sea = SEAS[min(5, max(0, (force - 3) * 6 // 8 + rng.choice([-1, 0, 0, 1])))]
    turn = rng.choice(["veering", "backing"])
    d2 = (d + (1 if turn == "veering" else -1)) % 8
    vis = VIS[min(3, max(0, (force >= 8) + rng.choice([0, 0, 1, 2])))]
    wx = WX[min(4, max(0, force // 3 - 1 + rng.choice([-1, 0, 1])))]
    words = ["station", st, "wind", DIRS[d], "force", str(force), turn, DIRS[d2],
             "later", "stop", "sea", sea, "stop", "visibility", vis, "weather", wx, "stop"]
    return [IDX[w] for w in words]


def span_corrupt(ids, density, rng, mean_span=2.0):
    """Replace random spans with sentinels; return (encoder input, target)."""
    n = len(ids)
    n_noise = max(1, int(round(n * density)))
    n_spans = max(1, min(N_SENT - 1, int(round(n_noise / mean_span))))
    # split noise tokens and kept tokens into n_spans segments each
    cuts = sorted(rng.sample(range(1, n_noise), n_spans - 1)) if n_spans > 1 else []
    noise_lens = np.diff([0] + cuts + [n_noise]).tolist()
    keep = n - n_noise
    kcuts = sorted(rng.sample(range(1, keep), n_spans - 1)) if n_spans > 1 else []
    keep_lens = np.diff([0] + kcuts + [keep]).tolist()
    inp, tgt, pos = [], [], 0
    for k in range(n_spans):
        inp += ids[pos:pos + keep_lens[k]]
        pos += keep_lens[k]
        inp.append(SENT0 + k)
        tgt.append(SENT0 + k)
        tgt += ids[pos:pos + noise_lens[k]]
        pos += noise_lens[k]
    inp.append(EOS)
    tgt += [SENT0 + n_spans, EOS]
    return inp, tgt


def make_batch(corpus, idx, density, rng):
    pairs = [span_corrupt(corpus[i], density, rng) for i in idx]
    Le = max(len(a) for a, _ in pairs)
    Ld = max(len(b) for _, b in pairs)
    enc = np.full((len(pairs), Le), PAD, np.int32)
    tgt = np.full((len(pairs), Ld), PAD, np.int32)
    for r, (a, b) in enumerate(pairs):
        enc[r, :len(a)] = a
        tgt[r, :len(b)] = b
    dec_in = np.concatenate([np.full((len(pairs), 1), PAD, np.int32), tgt[:, :-1]], 1)
    return mx.array(enc), mx.array(dec_in), mx.array(tgt)


class SpanT5(nn.Module):
    def __init__(self, vocab, dims=32, heads=4, max_len=40):
        super().__init__()
        self.embed = nn.Embedding(vocab, dims)
        self.pos = nn.Embedding(max_len, dims)
        self.encoder = nn.TransformerEncoder(1, dims, heads, mlp_dims=64, norm_first=True)
        self.decoder = nn.TransformerDecoder(1, dims, heads, mlp_dims=64, norm_first=True)
        self.out = nn.Linear(dims, vocab)

    def __call__(self, enc, dec_in):
        Le, Ld = enc.shape[1], dec_in.shape[1]
        key_pad = mx.where(enc == PAD, -1e9, 0.0)[:, None, None, :]
        x = self.embed(enc) + self.pos(mx.arange(Le))
        mem = self.encoder(x, key_pad)
        y = self.embed(dec_in) + self.pos(mx.arange(Ld))
        causal = nn.MultiHeadAttention.create_additive_causal_mask(Ld)
        h = self.decoder(y, mem, causal, key_pad)
        return self.out(h)


def loss_fn(model, enc, dec_in, tgt):
    logits = model(enc, dec_in)
    mask = (tgt != PAD).astype(mx.float32)
    ce = nn.losses.cross_entropy(logits, tgt) * mask
    return ce.sum() / mask.sum()


def evaluate(model, batches):
    tot_ce, tot_n, span_hit, span_n = 0.0, 0.0, 0, 0
    for enc, dec_in, tgt in batches:
        logits = model(enc, dec_in)
        mask = tgt != PAD
        ce = nn.losses.cross_entropy(logits, tgt) * mask
        tot_ce += ce.sum().item()
        tot_n += mask.sum().item()
        content = mx.logical_and(mask, mx.logical_and(tgt < SENT0, tgt != EOS))
        hit = mx.logical_and(content, mx.argmax(logits, -1) == tgt)
        span_hit += int(hit.sum().item())
        span_n += int(content.sum().item())
    return tot_ce / tot_n, span_hit / max(span_n, 1)


def lr_at(step, peak=3e-3, warm=40):
    if isinstance(step, mx.array):
        s = step.astype(mx.float32)
        return mx.where(s < warm, peak * s / warm, peak * mx.sqrt(warm / mx.maximum(s, 1.0)))
    if step < warm:
        return peak * step / warm
    return peak * math.sqrt(warm / step)


def build(seed):
    mx.random.seed(seed)
    model = SpanT5(len(VOCAB))
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=lr_at)
    return model, opt


def main():
    t0 = time.time()
    rng = random.Random(SEED)
    corpus = [telegram(rng) for _ in range(3000)]
    val = [telegram(rng) for _ in range(256)]
    counts = np.bincount(np.concatenate(corpus), minlength=len(VOCAB)) + 1e-9
    p = counts / counts.sum()
    unigram_nats = float(-(p * np.log(p)).sum())
    vrng = random.Random(99)
    val_sets = {d: [make_batch(val, range(i, i + 64), d, vrng) for i in range(0, 256, 64)]
                for d in (0.15, 0.30)}
    print(f"event=setup vocab={len(VOCAB)} sentinels={SENT0}..{len(VOCAB) - 1} pad=0 "
          f"decoder_start=0 train={len(corpus)} val={len(val)} "
          f"unigram_ref_nats={unigram_nats:.3f} chance_acc={1 / len(BASE):.3f}")

    model, opt = build(SEED)
    step_fn = nn.value_and_grad(model, loss_fn)
    total, ckpt_at, switch_at, bs = 400, 150, 200, 32
    ckdir = tempfile.mkdtemp()
    brng = random.Random(5)
    step = 0
    session = 1
    while step < total:
        density = 0.15 if step < switch_at or step % 2 == 0 else 0.30
        idx = brng.sample(range(len(corpus)), bs)
        enc, dec_in, tgt = make_batch(corpus, idx, density, brng)
        lr_now = lr_at(opt.step.item())
        loss, grads = step_fn(model, enc, dec_in, tgt)
        if step == 0:
            before = [mx.array(v) for _, v in tree_flatten(model.parameters())]
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        step += 1
        if step == 1:
            moved = sum(int(mx.any(a != b).item()) for a, (_, b) in
                        zip(before, tree_flatten(model.parameters())))
            print(f"event=first_step lr={lr_now:.1e} loss={loss.item():.4f} "
                  f"tensors_changed={moved}/{len(before)}")
        if step % 25 == 0:
            v15, a15 = evaluate(model, val_sets[0.15])
            v30, a30 = evaluate(model, val_sets[0.30])
            print(f"event=eval session={session} step={step} density={density:.2f} "
                  f"lr={lr_now:.2e} train_nats={loss.item():.4f} val15_nats={v15:.4f} "
                  f"val15_span_acc={a15:.3f} val30_nats={v30:.4f} val30_span_acc={a30:.3f}")
        if step == ckpt_at:
            model.save_weights(os.path.join(ckdir, "model.safetensors"))
            mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"),
                                dict(tree_flatten(opt.state)))
            ref = evaluate(model, val_sets[0.15])[0]
            del model, opt, step_fn
            model, opt = build(SEED + 1000)
            model.load_weights(os.path.join(ckdir, "model.safetensors"))
            opt.init(model.trainable_parameters())
            opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
            step_fn = nn.value_and_grad(model, loss_fn)
            again = evaluate(model, val_sets[0.15])[0]
            session = 2
            print(f"event=resume step={step} opt_step={opt.step.item()} "
                  f"val15_before={ref:.4f} val15_after={again:.4f}")
    v15, a15 = evaluate(model, val_sets[0.15])
    v30, a30 = evaluate(model, val_sets[0.30])
    print(f"event=done steps={step} secs={time.time() - t0:.1f} val15_nats={v15:.4f} "
          f"val30_nats={v30:.4f} val15_span_acc={a15:.3f} val30_span_acc={a30:.3f} "
          f"unigram_ref_nats={unigram_nats:.3f}")


if __name__ == "__main__":
    main()
