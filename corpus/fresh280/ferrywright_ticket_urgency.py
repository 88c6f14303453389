"""Ferry-yard repair tickets: ordinal urgency (0 routine .. 3 stop-the-boat).

Word tokens -> nn.Embedding -> learned-query attention pooling over the
real (non-pad) tokens -> small GELU trunk -> cumulative-logit (CORAL
style) head: one shared score and 3 ordered thresholds.  Adam with a
linear warm-up from exactly 0.  The run is split in two sessions: the
first saves model + optimizer state to a checkpoint folder, the second
builds everything fresh, loads it and carries on.  The monitor line
reports validation log-likelihood (negative, climbing toward 0) and MAE
next to a predict-the-median baseline.
"""

import os
import random
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

PARTS = ["hull", "prop", "rudder", "winch", "bilge pump", "ramp", "radar",
         "galley", "bench", "railing", "door", "lamp"]
CUES = {  # word -> urgency push
    "leak": 1.4, "flooding": 2.6, "cracked": 1.2, "seized": 1.6, "smoke": 2.4,
    "squeak": -0.6, "scuffed": -0.9, "loose": 0.4, "rattle": 0.1, "dead": 1.0,
    "intermittent": 0.3, "faded": -1.0, "jammed": 1.1, "sparking": 2.0,
}
FILL = ["port", "side", "aft", "fwd", "reported", "by", "crew", "on", "the",
        "morning", "run", "again", "please", "check", "deck", "two"]
NEG = "no"
CUTS = [-0.2, 1.2, 2.4]
PAD = 0


def make_ticket(rng):
    words = [rng.choice(FILL) for _ in range(rng.randint(2, 6))]
    words.append(rng.choice(PARTS))
    score = rng.gauss(0.0, 0.45)
    for _ in range(rng.randint(1, 2)):
        cue = rng.choice(list(CUES))
        if rng.random() < 0.15:
            words += [NEG, cue]  # "no smoke" does not count
        else:
            words.append(cue)
            score += CUES[cue]
    rng.shuffle(words)
    level = sum(score > c for c in CUTS)
    return words, level


VOCAB = ["<pad>"] + sorted(set(" ".join(PARTS + list(CUES) + FILL + [NEG]).split()))
IDX = {w: i for i, w in enumerate(VOCAB)}
MAXLEN = 12


def encode(rows):
    ids = np.zeros((len(rows), MAXLEN), np.int32)
    y = np.zeros(len(rows), np.int32)
    for i, (ws, lv) in enumerate(rows):
        toks = [IDX[w] for w in " ".join(ws).split()][:MAXLEN]
        ids[i, : len(toks)] = toks
        y[i] = lv
    return mx.array(ids), mx.array(y)


class UrgencyNet(nn.Module):
    def __init__(self, vocab, dim=32, levels=4):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.pos = nn.Embedding(MAXLEN, dim)
        self.mix = nn.Linear(2 * dim, dim)
        self.query = mx.zeros((dim,))
        self.trunk = nn.Sequential(nn.Linear(dim, 48), nn.GELU(), nn.Linear(48, 1, bias=False))
        self.cut_base = mx.array([-1.0])
        self.cut_gaps = mx.zeros((levels - 2,))

    def thresholds(self):
        gaps = nn.softplus(self.cut_gaps) + 0.05
        return mx.concatenate([self.cut_base, self.cut_base + mx.cumsum(gaps)])

    def __call__(self, ids):
        real = ids != PAD
        e = self.emb(ids) + self.pos(mx.arange(ids.shape[1]))
        # each token sees its right neighbour (bigram context, e.g. "no smoke")
        nxt = mx.concatenate([e[:, 1:], mx.zeros_like(e[:, :1])], axis=1)
        h = nn.gelu(self.mix(mx.concatenate([e, nxt], axis=-1)))
        att = (h @ self.query) / (h.shape[-1] ** 0.5)
        att = mx.where(real, att, mx.array(-1e9))
        w = mx.softmax(att, axis=-1)[..., None]
        pooled = (w * h).sum(axis=1)
        s = self.trunk(pooled)  # (B, 1)
        return s - self.thresholds()[None, :]  # cumulative logits P(y > k)


def level_probs(cum_logits):
    p_gt = mx.sigmoid(cum_logits)  # (B, K-1), decreasing in k
    ones = mx.ones((p_gt.shape[0], 1))
    zeros = mx.zeros((p_gt.shape[0], 1))
    upper = mx.concatenate([ones, p_gt], axis=1)
    lower = mx.concatenate([p_gt, zeros], axis=1)
    return mx.maximum(upper - lower, 1e-7)


def loss_fn(model, x, y):
    cl = model(x)
    k = mx.arange(cl.shape[1])[None, :]
    target = (y[:, None] > k).astype(mx.float32)
    return nn.losses.binary_cross_entropy(cl, target, reduction="mean")


def evaluate(model, x, y):
    p = level_probs(model(x))
    ll = mx.log(mx.take_along_axis(p, y[:, None], axis=1)).mean().item()
    pred = p.argmax(axis=1)
    mae = mx.abs(pred - y).astype(mx.float32).mean().item()
    acc = (pred == y).astype(mx.float32).mean().item()
    return ll, mae, acc


def run_session(name, model, opt, Xtr, Ytr, Xva, Yva, epochs, start_epoch, report_every):
    step_fn = nn.value_and_grad(model, loss_fn)
    batch = 64
    n = Xtr.shape[0]
    for ep in range(start_epoch, start_epoch + epochs):
        perm = mx.array(np.random.permutation(n))
        tot = 0.0
        nb = n // batch
        for b in range(nb):
            idx = perm[b * batch:(b + 1) * batch]
            loss, g = step_fn(model, Xtr[idx], Ytr[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        if (ep + 1) % report_every == 0:
            ll, mae, acc = evaluate(model, Xva, Yva)
            print(f"[{name}] epoch {ep + 1:2d}  train_bce {tot / nb:.4f}  val_loglik {ll:.4f}  "
                  f"val_MAE {mae:.3f}  val_acc {acc:.3f}  lr {opt.learning_rate.item():.5f}")


def main():
    t0 = time.time()
    rng = random.Random(11)
    np.random.seed(11)
    mx.random.seed(11)
    Xtr, Ytr = encode([make_ticket(rng) for _ in range(5000)])
    Xva, Yva = encode([make_ticket(rng) for _ in range(1000)])
    Xte, Yte = encode([make_ticket(rng) for _ in range(1000)])
    counts = np.bincount(np.array(Ytr), minlength=4)
    print("train level counts:", counts.tolist())
    median = int(np.searchsorted(np.cumsum(counts), counts.sum() / 2))
    base_mae = mx.abs(Yva - median).astype(mx.float32).mean().item()
    print(f"baseline (always level {median}) val_MAE {base_mae:.3f}")

    warm = 150
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, 1400, 1e-4)], [warm])

    model = UrgencyNet(len(VOCAB))
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=sched)
    ll0, mae0, _ = evaluate(model, Xva, Yva)
    print(f"before training: val_loglik {ll0:.4f}  val_MAE {mae0:.3f}")

    run_session("session 1", model, opt, Xtr, Ytr, Xva, Yva, epochs=6, start_epoch=0, report_every=1)

    ckpt = tempfile.mkdtemp()
    model.save_weights(os.path.join(ckpt, "model.safetensors"))
    mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
    print(f"checkpoint written ({len(tree_flatten(opt.state))} optimizer tensors, step {opt.step.item()})")
    del model, opt

    model = UrgencyNet(len(VOCAB))
    model.load_weights(os.path.join(ckpt, "model.safetensors"))
    opt = optim.Adam(learning_rate=sched)
    opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
    mx.eval(model.parameters(), opt.state)
    ll, mae, _ = evaluate(model, Xva, Yva)
    print(f"resumed at step {opt.step.item()}: val_loglik {ll:.4f}  val_MAE {mae:.3f}")

    run_session("session 2", model, opt, Xtr, Ytr, Xva, Yva, epochs=12, start_epoch=6, report_every=4)

    ll, mae, acc = evaluate(model, Xte, Yte)
    base_te = mx.abs(Yte - median).astype(mx.float32).mean().item()
    print(f"test: loglik {ll:.4f}  MAE {mae:.3f} (median baseline {base_te:.3f})  acc {acc:.3f}")
    print("learned thresholds:", np.round(np.array(model.thresholds()), 2).tolist())
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
