# Railway poster archive: tag search for scanned posters.
# Stage A trains the poster (image) tower as a 4-attribute classifier.
# Stage B locks that tower (LiT-style) and trains only the tag-text tower with a
# symmetric contrastive loss whose targets are soft: posters in a batch that share
# all four tags are all counted as matches, so the loss cannot reach 0.
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

LINES, SEASONS, STYLES, INKS = 4, 3, 3, 2
WORDS = ["<pad>"] + [f"line{i}" for i in range(LINES)] + [f"season{i}" for i in range(SEASONS)] \
    + [f"style{i}" for i in range(STYLES)] + [f"ink{i}" for i in range(INKS)] + ["poster", "lithograph"]
OFFS = [1, 1 + LINES, 1 + LINES + SEASONS, 1 + LINES + SEASONS + STYLES]


def make_archive(rng, n, proj):
    attrs = np.stack([rng.integers(0, k, n) for k in (LINES, SEASONS, STYLES, INKS)], 1)
    onehot = np.concatenate([np.eye(k)[attrs[:, j]] for j, k in enumerate((LINES, SEASONS, STYLES, INKS))], 1)
    scans = np.tanh(onehot @ proj) + rng.normal(0, 0.9, (n, proj.shape[1]))
    tags = attrs + np.array(OFFS)
    filler = rng.integers(len(WORDS) - 2, len(WORDS), (n, 1))
    order = np.argsort(rng.random((n, 5)), 1)
    tags = np.take_along_axis(np.concatenate([tags, filler], 1), order, 1)
    return mx.array(scans.astype(np.float32)), mx.array(tags), attrs


class PosterTower(nn.Module):
    def __init__(self, d_in, d_out):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d_in, 64), nn.GELU(), nn.Linear(64, d_out))

    def __call__(self, x):
        return self.body(x)


class TagTower(nn.Module):
    def __init__(self, vocab, d_out):
        super().__init__()
        self.emb = nn.Embedding(vocab, 48)
        self.mlp = nn.Sequential(nn.LayerNorm(48), nn.Linear(48, 64), nn.GELU(), nn.Linear(64, d_out))

    def __call__(self, ids):
        return self.mlp(self.emb(ids).mean(axis=1))


class Archive(nn.Module):
    def __init__(self, d_scan):
        super().__init__()
        self.poster = PosterTower(d_scan, 32)
        self.heads = [nn.Linear(32, k) for k in (LINES, SEASONS, STYLES, INKS)]
        self.tags = TagTower(len(WORDS), 32)


def unit(x):
    return x / mx.sqrt((x * x).sum(axis=-1, keepdims=True) + 1e-8)


def classify_loss(model, x, y):
    h = nn.gelu(model.poster(x))
    return sum(nn.losses.cross_entropy(head(h), y[:, j], reduction="mean")
               for j, head in enumerate(model.heads)) / 4


def soft_contrastive(model, x, ids, same, temp):
    img = unit(model.poster(x))
    txt = unit(model.tags(ids))
    logits = (img @ txt.T) / temp
    target = same / same.sum(axis=1, keepdims=True)
    i2t = -(target * nn.log_softmax(logits, axis=1)).sum(axis=1).mean()
    t2i = -(target * nn.log_softmax(logits.T, axis=1)).sum(axis=1).mean()
    return (i2t + t2i) / 2


def same_matrix(attrs):
    a = attrs
    return mx.array((a[:, None, :] == a[None, :, :]).all(-1).astype(np.float32))


def floor_of(same):
    t = np.array(same) / np.array(same).sum(1, keepdims=True)
    return float(-(t * np.log(np.where(t > 0, t, 1))).sum(1).mean())


def tag_search_hit(model, x, ids, attrs):
    s = unit(model.tags(ids)) @ unit(model.poster(x)).T
    best = np.array(mx.argmax(s, axis=1))
    return float((attrs[best] == attrs).all(1).mean())


def main():
    mx.random.seed(11)
    rng = np.random.default_rng(11)
    proj = rng.normal(0, 0.7, (12, 40))
    xs, ids, attrs = make_archive(rng, 6000, proj)
    vx, vids, vattrs = make_archive(rng, 256, proj)
    ya = mx.array(attrs)
    model = Archive(40)
    t0 = time.time()
    print("# poster archive: 6000 train scans, 256 held-out; 72 distinct tag sets")
    print("# stage\tstep\tlr\tloss\tfloor\ttemp\theld_out_hit\tlocked_drift\tsecs")

    # Stage A: poster tower as a classifier, the tag tower is untouched.
    model.tags.freeze()
    opt = optim.Adam(learning_rate=3e-3)
    step_a = nn.value_and_grad(model, classify_loss)
    for s in range(1, 401):
        idx = mx.array(rng.integers(0, 6000, 128))
        loss, g = step_a(model, xs[idx], ya[idx])
        opt.update(model, g)
        mx.eval(model.trainable_parameters(), opt.state, loss)
        if s % 100 == 0:
            print(f"A\t{s}\t{3e-3:.5f}\t{loss.item():.4f}\t-\t-\t-\t-\t{time.time() - t0:.1f}")

    # Stage B: lock the poster tower, train tags only; lr warms up from exactly 0.
    model.unfreeze()
    model.poster.freeze()
    for h in model.heads:
        h.freeze()
    locked = [v for _, v in tree_flatten(model.poster.parameters())]
    mx.eval(locked)
    locked = [mx.array(np.array(v)) for v in locked]
    warm, total = 100, 900
    sched = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, warm),
                                  optim.cosine_decay(2e-3, total - warm, 1e-4)], [warm])
    opt = optim.Adam(learning_rate=sched)
    step_b = nn.value_and_grad(model, soft_contrastive)
    n_train = len(tree_flatten(model.trainable_parameters()))
    print(f"# stage B trains {n_train} arrays (tag tower only); untrained hit {tag_search_hit(model, vx, vids, vattrs):.3f}"
          f"; chance hit {1 / 72:.3f}")
    window = []
    for s in range(1, total + 1):
        temp = 0.05 + 0.5 * (0.30 - 0.05) * (1 + math.cos(math.pi * (s - 1) / (total - 1)))
        idx_np = rng.integers(0, 6000, 128)
        idx = mx.array(idx_np)
        same = same_matrix(attrs[idx_np])
        lr_now = sched(opt.step).item()
        loss, g = step_b(model, xs[idx], ids[idx], same, temp)
        opt.update(model, g)
        mx.eval(model.trainable_parameters(), opt.state, loss)
        window.append((loss.item(), floor_of(same)))
        if s == 1 or s % 150 == 0:
            drift = max(float(mx.abs(a - b).max().item()) for a, b in
                        zip([v for _, v in tree_flatten(model.poster.parameters())], locked))
            l_m = np.mean([w[0] for w in window]); f_m = np.mean([w[1] for w in window])
            print(f"B\t{s}\t{lr_now:.5f}\t{l_m:.4f}\t{f_m:.4f}\t{temp:.3f}\t"
                  f"{tag_search_hit(model, vx, vids, vattrs):.3f}\t{drift:.1e}\t{time.time() - t0:.1f}")
            window = []
    print(f"# finished: held-out tag->poster hit {tag_search_hit(model, vx, vids, vattrs):.3f} in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
