"""Frame tagging of foghorn blasts in harbour recordings (synthetic log-mel frames).

A causal Conv1d front end feeds an nn.GRU; each frame gets a horn / no-horn logit.
Horn frames are rare (about 15%), so the loss is a positively weighted BCE.
A hand-tuned energy-threshold detector is scored beside the network on the same clips.
Training runs in two sittings: after sitting 1 the weights and optimizer state are written
to safetensors, everything is rebuilt from disk and sitting 2 continues the same schedule.
"""
import math
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

N_MELS, N_FRAMES = 12, 64


def make_clips(n, seed):
    rng = np.random.default_rng(seed)
    x = np.zeros((n, N_FRAMES, N_MELS), np.float32)
    y = np.zeros((n, N_FRAMES), np.float32)
    bins = np.arange(N_MELS)
    for i in range(n):
        floor = rng.uniform(0.2, 0.6)
        x[i] = floor + 0.25 * rng.standard_normal((N_FRAMES, N_MELS))
        # broadband distractors: engine knocks and gull cries, often louder than the horn
        for _ in range(rng.integers(0, 4)):
            s, d = rng.integers(0, N_FRAMES - 4), rng.integers(2, 6)
            tilt = rng.uniform(-0.1, 0.1) * (bins - 6)
            x[i, s:s + d] += rng.uniform(0.8, 1.8) + tilt
        # horn blasts: narrow low fundamental + 2nd harmonic, steady over 6-14 frames
        for _ in range(rng.integers(0, 3)):
            s, d = rng.integers(0, N_FRAMES - 6), rng.integers(6, 15)
            f0 = rng.uniform(1.0, 2.5)
            shape = 1.4 * np.exp(-0.5 * ((bins - f0) / 0.6) ** 2) + 0.7 * np.exp(-0.5 * ((bins - 2 * f0 - 1) / 0.6) ** 2)
            amp = rng.uniform(0.5, 1.3)
            e = min(N_FRAMES, s + d)
            x[i, s:e] += amp * shape
            y[i, s:e] = 1.0
    return x, y


def runs(mask):
    out, start = [], None
    for t, v in enumerate(mask):
        if v and start is None:
            start = t
        if not v and start is not None:
            out.append((start, t)); start = None
    if start is not None:
        out.append((start, len(mask)))
    return out


def scores(pred, gold):
    tp = float(np.sum(pred * gold)); fp = float(np.sum(pred * (1 - gold))); fn = float(np.sum((1 - pred) * gold))
    frame_f1 = 2 * tp / max(2 * tp + fp + fn, 1.0)
    hit = n_pred = n_gold = 0
    for p, g in zip(pred, gold):
        pe, ge = runs(p > 0.5), runs(g > 0.5)
        n_pred += len(pe); n_gold += len(ge)
        hit += sum(any(a < d and c < b for (c, d) in pe) for (a, b) in ge)
    prec = hit / max(n_pred, 1); rec = hit / max(n_gold, 1)
    event_f1 = 2 * prec * rec / max(prec + rec, 1e-9)
    return frame_f1, event_f1


class HornTagger(nn.Module):
    def __init__(self, hidden=24):
        super().__init__()
        self.conv = nn.Conv1d(N_MELS, hidden, kernel_size=5)
        self.norm = nn.LayerNorm(hidden)
        self.gru = nn.GRU(hidden, hidden)
        self.head = nn.Linear(hidden, 1)

    def __call__(self, x):
        x = mx.pad(x, [(0, 0), (4, 0), (0, 0)])  # causal: only past frames
        h = nn.gelu(self.norm(self.conv(x)))
        h = self.gru(h)
        return self.head(h).squeeze(-1)


POS_WEIGHT = 4.0


def loss_fn(model, x, y):
    z = model(x)
    # weighted BCE with logits: pos_weight * y * softplus(-z) + (1 - y) * softplus(z)
    per = POS_WEIGHT * y * nn.softplus(-z) + (1 - y) * nn.softplus(z)
    return per.mean()


def build(total_steps, warm):
    model = HornTagger()
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, total_steps - warm, 2e-4)], [warm])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-3)
    return model, opt


def main():
    mx.random.seed(11)
    xtr, ytr = make_clips(320, 1)
    xva, yva = make_clips(128, 2)
    Xva, Yva = mx.array(xva), mx.array(yva)
    print(f"clips: train {len(xtr)}  val {len(xva)}  horn-frame share {ytr.mean():.3f}")

    # energy-threshold reference: best threshold on the train clips, scored on val
    e_tr, e_va = xtr.mean(-1), xva.mean(-1)
    best = max(np.quantile(e_tr, np.linspace(0.5, 0.98, 25)), key=lambda th: scores((e_tr > th).astype(np.float32), ytr)[0])
    ref_frame, ref_event = scores((e_va > best).astype(np.float32), yva)
    print(f"energy-threshold reference (th={best:.2f}): frame F1 {ref_frame:.3f}  event F1 {ref_event:.3f}")

    bs, epochs, sitting1 = 32, 8, 4
    steps_per_epoch = math.ceil(len(xtr) / bs)
    total, warm = epochs * steps_per_epoch, 2 * steps_per_epoch
    model, opt = build(total, warm)
    step_fn = nn.value_and_grad(model, loss_fn)
    rng = np.random.default_rng(0)
    ckpt = tempfile.mkdtemp(prefix="horn_")

    def evaluate(m):
        z = m(Xva)
        vl = loss_fn(m, Xva, Yva).item()
        pred = np.array(z > 0).astype(np.float32)
        return (vl,) + scores(pred, yva)

    print(f"{'ep':>3} {'step':>5} {'lr':>8} {'train':>7} {'val':>7} {'frameF1':>8} {'eventF1':>8} {'s':>5}")
    step = 0
    for ep in range(1, epochs + 1):
        tic = time.perf_counter()
        perm = rng.permutation(len(xtr))
        tot = 0.0
        for b in range(steps_per_epoch):
            idx = perm[b * bs:(b + 1) * bs]
            loss, grads = step_fn(model, mx.array(xtr[idx]), mx.array(ytr[idx]))
            grads, _ = optim.clip_grad_norm(grads, 2.0)
            lr_now = opt.learning_rate.item()
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state)
            tot += loss.item(); step += 1
            if step == 1:
                print(f"  first step ran at lr {lr_now:.1e}")
        vl, ff1, ef1 = evaluate(model)
        print(f"{ep:>3} {step:>5} {opt.learning_rate.item():>8.2e} {tot / steps_per_epoch:>7.4f} {vl:>7.4f} "
              f"{ff1:>8.3f} {ef1:>8.3f} {time.perf_counter() - tic:>5.1f}")

        if ep == sitting1:
            model.save_weights(os.path.join(ckpt, "tagger.safetensors"))
            mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
            before = vl
            del model, opt, step_fn
            model, opt = build(total, warm)
            model.load_weights(os.path.join(ckpt, "tagger.safetensors"))
            opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
            step_fn = nn.value_and_grad(model, loss_fn)
            after = evaluate(model)[0]
            print(f"-- sitting 1 done; reloaded from {os.path.basename(ckpt)}: optimizer step {opt.step.item()}, "
                  f"val {before:.4f} -> {after:.4f} after reload --")

    vl, ff1, ef1 = evaluate(model)
    print(f"final: network frame F1 {ff1:.3f} / event F1 {ef1:.3f}   vs energy threshold {ref_frame:.3f} / {ref_event:.3f}")


if __name__ == "__main__":
    main()
