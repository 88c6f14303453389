"""Bus depot roller-blind photos -> short captions, then preference tuning.

A tiny image-conditioned captioner (Conv2d encoder -> GRU decoder) is first
fine-tuned on depot captions written by two clerks.  One clerk systematically
writes "four" for blinds that show three route bars, so the SFT model learns to
caption three-bar blinds as four.  A second stage runs DPO on pairs where the
chosen caption is the checked one and the rejected caption is the clerk's
off-by-one version; the SFT model, frozen, is the reference, and a per-token NLL term on
the chosen caption (RPO-style) keeps the policy from drifting off it.
"""

import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

SEED = 3
COUNTS = ["one", "two", "three", "four"]
ORIENT = ["across", "down"]
LIGHT = ["lit", "unlit"]
VOCAB = ["<bos>", "<eos>"] + COUNTS + ORIENT + LIGHT
TOK = {w: i for i, w in enumerate(VOCAB)}
BETA = 0.1
ALPHA = 1.0


def blind(rng, n_bars, down, lit):
    img = np.full((8, 8), 0.15, np.float32)
    cols = rng.choice(4, size=n_bars, replace=False)
    for c in cols:
        if down:
            img[:, 2 * c] = 0.95 if lit else 0.55
        else:
            img[2 * c, :] = 0.95 if lit else 0.55
    img += rng.normal(0, 0.08, img.shape).astype(np.float32)
    return img[..., None]


def caption_ids(n_bars, down, lit):
    return [TOK["<bos>"], TOK[COUNTS[n_bars - 1]], TOK[ORIENT[int(down)]],
            TOK[LIGHT[int(not lit)]], TOK["<eos>"]]


def make_split(n, rng, clerk_error):
    imgs, true_caps, noisy_caps, bars = [], [], [], []
    for _ in range(n):
        k = int(rng.integers(1, 5)); d = bool(rng.random() < 0.5); l = bool(rng.random() < 0.5)
        imgs.append(blind(rng, k, d, l))
        true_caps.append(caption_ids(k, d, l))
        k_noisy = 4 if (k == 3 and rng.random() < clerk_error) else k
        noisy_caps.append(caption_ids(k_noisy, d, l))
        bars.append(k)
    return (mx.array(np.stack(imgs)), mx.array(np.array(true_caps, np.int32)),
            mx.array(np.array(noisy_caps, np.int32)), np.array(bars))


class Captioner(nn.Module):
    def __init__(self, hidden=48):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.to_h0 = nn.Linear(2 * 2 * 16, hidden)
        self.embed = nn.Embedding(len(VOCAB), 16)
        self.gru = nn.GRU(16, hidden)
        self.out = nn.Linear(hidden, len(VOCAB))

    def __call__(self, images, tokens):
        z = nn.relu(self.conv1(images))
        z = nn.relu(self.conv2(z))
        h0 = mx.tanh(self.to_h0(z.reshape(z.shape[0], -1)))
        hs = self.gru(self.embed(tokens), hidden=h0)
        return self.out(hs)


def seq_logprob(model, images, caps):
    logits = model(images, caps[:, :-1])
    logp = nn.log_softmax(logits, axis=-1)
    tok = mx.take_along_axis(logp, caps[:, 1:, None], axis=-1).squeeze(-1)
    return tok.sum(axis=1)


def sft_loss(model, images, caps):
    logits = model(images, caps[:, :-1])
    return nn.losses.cross_entropy(logits, caps[:, 1:], reduction="mean")


def greedy(model, images):
    toks = mx.full((images.shape[0], 1), TOK["<bos>"], dtype=mx.int32)
    for _ in range(4):
        nxt = mx.argmax(model(images, toks)[:, -1], axis=-1).astype(mx.int32)
        toks = mx.concatenate([toks, nxt[:, None]], axis=1)
    return toks


def exact_match(model, images, caps, bars):
    pred = np.array(greedy(model, images))
    gold = np.array(caps)
    ok = (pred == gold).all(axis=1)
    return ok.mean(), ok[bars == 3].mean()


def main():
    t0 = time.time()
    mx.random.seed(SEED)
    rng = np.random.default_rng(SEED)
    tr_img, tr_true, tr_noisy, _ = make_split(4000, rng, clerk_error=0.7)
    va_img, va_true, _, va_bars = make_split(600, rng, clerk_error=0.0)
    three = va_bars == 3
    print(f"depot photos: 4000 train, 600 checked val ({three.sum()} three-bar)")

    # ---- stage SFT on the clerks' captions ----
    policy = Captioner()
    opt = optim.Adam(learning_rate=3e-3)
    step_fn = nn.value_and_grad(policy, sft_loss)
    for step in range(1, 301):
        idx = mx.array(rng.integers(0, 4000, 64))
        loss, g = step_fn(policy, tr_img[idx], tr_noisy[idx])
        opt.update(policy, g)
        mx.eval(policy.parameters(), opt.state, loss)
        if step % 75 == 0:
            em, em3 = exact_match(policy, va_img, va_true, va_bars)
            print(f"sft  step {step:3d}  loss {loss.item():.4f}  val exact {em:.3f}  "
                  f"three-bar exact {em3:.3f}")
    sft_path = os.path.join(tempfile.mkdtemp(), "sft.safetensors")
    policy.save_weights(sft_path)
    ref_em, ref_em3 = exact_match(policy, va_img, va_true, va_bars)

    reference = Captioner()
    reference.load_weights(sft_path)
    reference.freeze()
    reference.eval()

    # ---- stage DPO: chosen = checked caption, rejected = clerk off-by-one ----
    pair_rows = np.where((np.array(tr_true) != np.array(tr_noisy)).any(axis=1))[0]
    rng2 = np.random.default_rng(SEED + 1)
    ok_rows = rng2.choice(np.where(~(np.array(tr_true) != np.array(tr_noisy)).any(axis=1))[0],
                          size=len(pair_rows), replace=False)
    rej = np.array(tr_true).copy()
    # for already-clean rows the rejected caption miscounts by one in a random direction
    for r in ok_rows:
        k = COUNTS.index(VOCAB[rej[r, 1]]) + 1
        k2 = k + 1 if (k == 1 or (k < 4 and rng2.random() < 0.5)) else k - 1
        rej[r, 1] = TOK[COUNTS[k2 - 1]]
    rows = np.concatenate([pair_rows, ok_rows])
    rej[pair_rows] = np.array(tr_noisy)[pair_rows]
    p_img, p_ch, p_rj = tr_img[mx.array(rows)], tr_true[mx.array(rows)], mx.array(rej[rows])
    print(f"preference pairs: {len(rows)} ({len(pair_rows)} clerk disagreements)")

    def dpo_loss(model, img, ch, rj):
        pc, pr = seq_logprob(model, img, ch), seq_logprob(model, img, rj)
        rc, rr = seq_logprob(reference, img, ch), seq_logprob(reference, img, rj)
        chosen_r, rejected_r = BETA * (pc - rc), BETA * (pr - rr)
        pref = -nn.log_sigmoid(chosen_r - rejected_r).mean()
        # RPO-style anchor: keep the chosen caption likely (per-token NLL)
        nll = -(pc / (ch.shape[1] - 1)).mean()
        return pref + ALPHA * nll, (chosen_r.mean(), rejected_r.mean())

    sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-4, 30),
                                  lambda _: mx.array(3e-4)], [30])
    opt = optim.AdamW(learning_rate=sched, weight_decay=0.0)
    step_fn = nn.value_and_grad(policy, dpo_loss)
    policy.train()
    for step in range(1, 241):
        idx = mx.array(rng.integers(0, len(rows), 64))
        (loss, (cr, rr)), g = step_fn(policy, p_img[idx], p_ch[idx], p_rj[idx])
        opt.update(policy, g)
        mx.eval(policy.parameters(), opt.state, loss, cr, rr)
        if step in (1, 2) or step % 40 == 0:
            em, em3 = exact_match(policy, va_img, va_true, va_bars)
            print(f"dpo  step {step:3d}  lr {opt.learning_rate.item():.2e}  loss {loss.item():.4f}  "
                  f"reward chosen {cr.item():+.3f} rejected {rr.item():+.3f} "
                  f"margin {cr.item() - rr.item():+.3f}  val exact {em:.3f}  three-bar {em3:.3f}")

    em, em3 = exact_match(policy, va_img, va_true, va_bars)
    print(f"final: val exact {em:.3f} (SFT reference {ref_em:.3f}), three-bar exact "
          f"{em3:.3f} (SFT reference {ref_em3:.3f}), {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
