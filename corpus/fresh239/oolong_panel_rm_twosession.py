"""Teahouse cupping notes: a reward model for tasting-note completions.

Two tasters wrote notes for the same tea (the prompt); a panel said which note
was better and by how much (slightly / clearly / much better). We train a
sequence reward model on (prompt + note) token sequences with a Bradley-Terry
loss that asks the score gap to exceed a per-pair margin, plus a small
reward-centering term. Training is done in two sessions: the first session
writes a checkpoint (weights, optimizer state, step) and stops, the second
session rebuilds everything from scratch, loads the checkpoint and continues.
"""

import json
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

VOCAB = 40          # 0 = pad, 1..39 tasting words
PROMPT_LEN = 4
MARGINS = {1: 0.0, 2: 0.5, 3: 1.0}   # panel strength -> required score gap
TOTAL_STEPS = 240
SESSION_ONE_STOP = 120
BATCH = 48
REPORT_EVERY = 20


def make_world(seed=3):
    rng = np.random.default_rng(seed)
    word_value = rng.normal(0.0, 1.0, VOCAB)
    word_value[0] = 0.0
    return rng, word_value


def note_quality(prompt, note, word_value):
    relevance = 0.6 * sum(1 for t in set(note) if t in prompt)
    length_pen = 0.08 * abs(len(note) - 10)
    return word_value[note].mean() * 2.0 + relevance - length_pen


def sample_pairs(rng, word_value, n):
    data = []
    for _ in range(n):
        prompt = [int(t) for t in rng.integers(1, VOCAB, PROMPT_LEN)]
        a = [int(t) for t in rng.integers(1, VOCAB, rng.integers(5, 15))]
        b = [int(t) for t in rng.integers(1, VOCAB, rng.integers(5, 15))]
        qa, qb = note_quality(prompt, a, word_value), note_quality(prompt, b, word_value)
        ra, rb = qa + rng.normal(0, 0.35), qb + rng.normal(0, 0.35)   # panel noise
        chosen, rejected = (a, b) if ra >= rb else (b, a)
        gap = abs(ra - rb)
        strength = 1 if gap < 0.4 else (2 if gap < 1.0 else 3)
        truth_agrees = (qa >= qb) == (ra >= rb)
        data.append((prompt, chosen, rejected, strength, truth_agrees))
    return data


def to_arrays(pairs):
    width = PROMPT_LEN + 14

    def pack(prompt, note):
        seq = prompt + note
        return seq + [0] * (width - len(seq)), len(seq)

    c = [pack(p, ch) for p, ch, _, _, _ in pairs]
    r = [pack(p, rj) for p, _, rj, _, _ in pairs]
    return {
        "chosen": mx.array([s for s, _ in c]),
        "chosen_len": mx.array([n for _, n in c]),
        "rejected": mx.array([s for s, _ in r]),
        "rejected_len": mx.array([n for _, n in r]),
        "margin": mx.array([MARGINS[s] for _, _, _, s, _ in pairs]),
        "longer_is_chosen": np.array([len(ch) > len(rj) for _, ch, rj, _, _ in pairs]),
        "panel_matches_truth": np.array([t for *_, t in pairs]),
    }


class NoteScorer(nn.Module):
    """Causal conv encoder over right-padded tokens, scored at the last real token."""

    def __init__(self, dims=24, hidden=48):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, dims)
        self.conv1 = nn.Conv1d(dims, hidden, kernel_size=3)
        self.proj = nn.Linear(hidden, hidden)
        self.score = nn.Linear(hidden, 1, bias=False)

    def __call__(self, tokens, lengths):
        h = self.embed(tokens)
        h = nn.gelu(self.conv1(mx.pad(h, [(0, 0), (2, 0), (0, 0)])))
        h = mx.cumsum(h, axis=1) / mx.arange(1, h.shape[1] + 1)[None, :, None]
        last = (lengths - 1)[:, None, None]
        pooled = mx.take_along_axis(h, mx.broadcast_to(last, (h.shape[0], 1, h.shape[2])), axis=1)
        return self.score(nn.gelu(self.proj(pooled[:, 0, :])))[:, 0]


def loss_fn(model, batch, center_coef=0.01):
    rc = model(batch["chosen"], batch["chosen_len"])
    rr = model(batch["rejected"], batch["rejected_len"])
    bt = -nn.log_sigmoid(rc - rr - batch["margin"]).mean()
    center = center_coef * ((rc + rr) ** 2).mean()
    return bt + center, (bt, (rc > rr).astype(mx.float32).mean())


def build(lr_peak=4e-3, warmup=30):
    model = NoteScorer()
    schedule = optim.join_schedules(
        [optim.linear_schedule(0.0, lr_peak, warmup), lambda _: lr_peak], [warmup]
    )
    opt = optim.AdamW(learning_rate=schedule, weight_decay=0.01)
    return model, opt


def take(arrs, idx):
    ix = mx.array(idx)
    return {k: v[ix] for k, v in arrs.items() if isinstance(v, mx.array)}


def accuracy(model, arrs):
    rc = model(arrs["chosen"], arrs["chosen_len"])
    rr = model(arrs["rejected"], arrs["rejected_len"])
    return float((rc > rr).astype(mx.float32).mean())


def run_session(model, opt, train, valid, start_step, stop_step, rng, t0):
    grad_fn = nn.value_and_grad(model, loss_fn)
    n = train["chosen"].shape[0]
    window = []
    for step in range(start_step + 1, stop_step + 1):
        idx = rng.choice(n, BATCH, replace=False)
        (loss, (bt, acc)), grads = grad_fn(model, take(train, idx))
        lr_used = float(opt.learning_rate)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, bt, acc)
        window.append((float(loss), float(bt), float(acc)))
        if step == 1:
            nz = sum(int(mx.any(g != 0).item()) for _, g in tree_flatten(grads))
            print(f"<!-- step 1: lr used {lr_used:.1e}, {nz}/{len(tree_flatten(grads))} "
                  f"gradient leaves non-zero -->")
        if step % REPORT_EVERY == 0:
            w = np.array(window)
            window = []
            print(f"| {step:4d} | {lr_used:.2e} | {w[:, 0].mean():.4f} | {w[:, 1].mean():.4f} "
                  f"| {100 * w[:, 2].mean():5.1f}% | {100 * accuracy(model, valid):5.1f}% "
                  f"| {time.time() - t0:5.1f}s |")


def main():
    rng, word_value = make_world()
    train = to_arrays(sample_pairs(rng, word_value, 4000))
    valid = to_arrays(sample_pairs(rng, word_value, 800))
    longer = 100 * valid["longer_is_chosen"].mean()
    ceiling = 100 * valid["panel_matches_truth"].mean()
    print("# Teahouse cupping reward model")
    print(f"train pairs 4000, valid pairs 800; valid references: longer-note-wins {longer:.1f}%, "
          f"panel-vs-truth ceiling {ceiling:.1f}%, coin 50.0%")
    print(f"loss column = margin BT + 0.01 centering (margins 0 / 0.5 / 1.0, so it cannot reach 0)")

    ckpt_dir = tempfile.mkdtemp()
    header = ("| step | lr | loss | bt | train pair acc | valid pair acc | time |\n"
              "|---:|---:|---:|---:|---:|---:|---:|")

    # ---- session 1 ------------------------------------------------------
    mx.random.seed(11)
    model, opt = build()
    print("\n## Session 1\n")
    print(header)
    t0 = time.time()
    run_session(model, opt, train, valid, 0, SESSION_ONE_STOP, np.random.default_rng(5), t0)
    probe = take(valid, list(range(8)))
    probe_scores = model(probe["chosen"], probe["chosen_len"])
    mx.eval(probe_scores)
    model.save_weights(os.path.join(ckpt_dir, "scorer.safetensors"))
    mx.save_safetensors(os.path.join(ckpt_dir, "optimizer.safetensors"), dict(tree_flatten(opt.state)))
    with open(os.path.join(ckpt_dir, "trainer.json"), "w") as f:
        json.dump({"step": SESSION_ONE_STOP}, f)
    del model, opt
    print(f"\ncheckpoint written at step {SESSION_ONE_STOP} ({len(os.listdir(ckpt_dir))} files)")

    # ---- session 2: rebuild from nothing and resume ---------------------
    mx.random.seed(999)
    model, opt = build()
    model.load_weights(os.path.join(ckpt_dir, "scorer.safetensors"))
    opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "optimizer.safetensors")).items()))
    with open(os.path.join(ckpt_dir, "trainer.json")) as f:
        start = json.load(f)["step"]
    reloaded = model(probe["chosen"], probe["chosen_len"])
    drift = float(mx.abs(reloaded - probe_scores).max())
    print(f"resumed at step {start}: optimizer step counter {int(opt.state['step'])}, "
          f"lr {float(opt.learning_rate):.2e}, probe score drift {drift:.1e}")
    print("\n## Session 2\n")
    print(header)
    run_session(model, opt, train, valid, start, TOTAL_STEPS, np.random.default_rng(6), t0)

    final = 100 * accuracy(model, valid)
    print(f"\nfinal valid pair accuracy {final:.1f}% (longer-note-wins {longer:.1f}%, "
          f"ceiling {ceiling:.1f}%)")
    for fn in os.listdir(ckpt_dir):
        os.remove(os.path.join(ckpt_dir, fn))
    os.rmdir(ckpt_dir)


if __name__ == "__main__":
    main()
