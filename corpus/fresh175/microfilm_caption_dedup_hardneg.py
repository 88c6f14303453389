"""Near-duplicate finder for a newspaper microfilm archive's photo captions.

Each caption was re-keyed by hand more than once (typos, dropped words, words in a
different order). A bi-encoder learns to put re-keyings of the same caption together.
Stage "easy" uses in-batch negatives only; stage "hard" adds, for every anchor, a
caption from the same story (shares most words) as an extra negative, so its loss
starts higher than where "easy" ended.
"""
import copy
import json
import logging
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
log = logging.getLogger("dedup")

W = 300                 # clean words; id + W is the mistyped form of a word
VOCAB = 2 * W + 1       # last id = padding
PAD = VOCAB - 1
L = 10
N_STORY, PER_STORY = 90, 4


def build(rng):
    caps = []
    story = []
    for s in range(N_STORY):
        core = rng.choice(W, size=6, replace=False)
        for _ in range(PER_STORY):
            extra = rng.choice(W, size=4, replace=False)
            caps.append(np.concatenate([core, extra]))
            story.append(s)
    return np.array(caps), np.array(story)


def rekey(rng, cap):
    c = cap.copy()
    typo = rng.random(L) < 0.25
    c = np.where(typo, c + W, c)
    c = c[rng.permutation(L)]
    drop = rng.integers(0, 3)
    if drop:
        c[-drop:] = PAD
    return c


class BiEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, 48)      # frozen random word table (on purpose)
        self.h1 = nn.Linear(48, 96)
        self.h2 = nn.Linear(96, 32)

    def __call__(self, ids):
        mask = (ids != PAD).astype(mx.float32)[..., None]
        x = (self.emb(ids) * mask).sum(1) / mx.sqrt(mx.maximum(mask.sum(1), 1.0))
        z = self.h2(nn.gelu(self.h1(x)))
        return z / mx.sqrt((z * z).sum(-1, keepdims=True) + 1e-6)


def mnrl(model, a, p, hn, tau):
    za, zp = model(a), model(p)
    logits = za @ zp.T / tau
    if hn is not None:
        zh = model(hn)
        logits = mx.concatenate([logits, (za * zh).sum(-1, keepdims=True) / tau], axis=1)
    return nn.losses.cross_entropy(logits, mx.arange(a.shape[0]), reduction="mean")


def recall_at1(model, caps, story, rng):
    q = np.stack([rekey(rng, c) for c in caps])
    k = np.stack([rekey(rng, c) for c in caps])
    s = np.array(model(mx.array(q)) @ model(mx.array(k)).T)
    hit = s.argmax(1) == np.arange(len(caps))
    return float(hit.mean())


def main():
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    caps, story = build(rng)
    n = len(caps)
    val_rng = np.random.default_rng(99)
    model = BiEncoder()
    model.emb.freeze()
    mx.eval(model.parameters())
    raw = recall_at1(model, caps, story, np.random.default_rng(99))
    log.info("captions=%d stories=%d trainable=%d", n, N_STORY,
             sum(v.size for _, v in tree_flatten(model.trainable_parameters())))
    emb_before = np.array(model.emb.weight)

    stages = [("easy", 14, False, 0.3), ("hard", 14, True, 0.1)]
    best = (-1.0, None, None)
    patience = 4
    tau = 0.1
    for stage, epochs, use_hard, lr in stages:
        opt = optim.SGD(learning_rate=lr, momentum=0.9, nesterov=True)   # restart per stage
        lg = nn.value_and_grad(model, mnrl)
        bad = 0
        for epoch in range(1, epochs + 1):
            order = rng.permutation(n)
            tot, nb = 0.0, 0
            for b in range(0, n - 31, 32):
                idx = order[b:b + 32]
                a = np.stack([rekey(rng, caps[i]) for i in idx])
                p = np.stack([rekey(rng, caps[i]) for i in idx])
                hn = None
                if use_hard:
                    sib = [(i // PER_STORY) * PER_STORY + (i % PER_STORY + rng.integers(1, PER_STORY)) % PER_STORY
                           for i in idx]
                    hn = mx.array(np.stack([rekey(rng, caps[j]) for j in sib]))
                loss, g = lg(model, mx.array(a), mx.array(p), hn, tau)
                if stage == "easy" and epoch == 1 and b == 0:
                    norms = {k: float(mx.linalg.norm(v.reshape(-1)).item()) for k, v in tree_flatten(g)}
                    log.info("grad check: %s", ", ".join(f"{k} {v:.2e}" for k, v in norms.items()))
                opt.update(model, g)
                mx.eval(model.parameters(), opt.state, loss)
                tot += loss.item(); nb += 1
            r1 = recall_at1(model, caps, story, np.random.default_rng(99))
            print(json.dumps({"stage": stage, "epoch": epoch, "mnrl": round(tot / nb, 4),
                              "r@1": round(r1, 4), "r@1_untrained": round(raw, 4)}))
            if r1 > best[0]:
                best = (r1, f"{stage}/{epoch}", tree_map(lambda x: mx.array(x), model.trainable_parameters()))
                bad = 0
            else:
                bad += 1
                if bad >= patience:
                    log.warning("no r@1 gain for %d epochs in stage %s, stopping it early", patience, stage)
                    break
    model.update(best[2])
    mx.eval(model.parameters())
    final = recall_at1(model, caps, story, np.random.default_rng(99))
    drift = float(np.abs(np.array(model.emb.weight) - emb_before).max())
    log.info("restored best weights from %s (r@1 %.4f), re-scored r@1 %.4f", best[1], best[0], final)
    log.info("frozen word table max |change| = %.1e", drift)
    log.info("summary: untrained %.1f%% -> trained %.1f%% exact-match recall", 100 * raw, 100 * final)


if __name__ == "__main__":
    main()
