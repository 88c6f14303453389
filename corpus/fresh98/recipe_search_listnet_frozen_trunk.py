"""Recipe-search ranking in two stages.

Stage 1 trains a pointwise scorer (MSE on graded relevance 0..4).
Stage 2 builds a NEW ranker whose trunk is copied from stage 1 and frozen on
purpose; only a fresh listwise head is trained with the ListNet loss
(cross-entropy between softmax(labels) and softmax(scores) per query).
The ListNet loss cannot reach 0: its floor is the entropy of the target
distribution, printed next to it.  Quality is NDCG@10 in percent.
Output is a reStructuredText simple table per stage.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

N_FEAT, N_DOCS = 16, 20


def make_queries(n_q, rng, w1):
    x = rng.normal(size=(n_q, N_DOCS, N_FEAT)).astype(np.float32)
    intent = rng.normal(size=(n_q, 1, 4)).astype(np.float32)  # query-specific taste
    s = np.tanh(x @ w1).sum(-1) + (x[..., :4] * intent).sum(-1) + 0.4 * x[..., 4] * x[..., 5]
    s = s + 0.5 * rng.normal(size=s.shape)
    cuts = np.quantile(s, [0.45, 0.7, 0.85, 0.95])
    y = np.searchsorted(cuts, s).astype(np.float32)            # grades 0..4
    # the query intent is visible to the ranker only through 4 noisy summary features
    q_feat = np.broadcast_to(intent + 0.3 * rng.normal(size=intent.shape), (n_q, N_DOCS, 4))
    feats = np.concatenate([x[..., :N_FEAT - 4], q_feat], -1).astype(np.float32)
    return feats, y


class Trunk(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(N_FEAT, 64)
        self.l2 = nn.Linear(64, 64)

    def __call__(self, x):
        return nn.gelu(self.l2(nn.gelu(self.l1(x))))


class PointwiseScorer(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = Trunk()
        self.head = nn.Linear(64, 1)

    def __call__(self, x):
        return self.head(self.trunk(x)).squeeze(-1)


class ListwiseRanker(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = Trunk()
        self.head = nn.Sequential(nn.Linear(64, 32), nn.Tanh(), nn.Linear(32, 1))

    def __call__(self, x):
        return self.head(self.trunk(x)).squeeze(-1)


def ndcg_at(scores, labels, k=10):
    order = np.argsort(-scores, axis=1)[:, :k]
    gains = (2.0 ** np.take_along_axis(labels, order, 1) - 1.0)
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = (gains * disc).sum(1)
    ideal = 2.0 ** np.sort(labels, axis=1)[:, ::-1][:, :k] - 1.0
    idcg = (ideal * disc).sum(1)
    ok = idcg > 0
    return float((dcg[ok] / idcg[ok]).mean())


def listnet_target(y):
    return mx.softmax(y, axis=-1)


def listnet_loss(model, x, y):
    p = listnet_target(y)
    return -(p * nn.log_softmax(model(x), axis=-1)).sum(-1).mean()


def mse_loss(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def grad_audit(fn, model, x, y):
    _, g = nn.value_and_grad(model, fn)(model, x, y)
    flat = tree_flatten(g)
    zero = [k for k, v in flat if mx.abs(v).max().item() == 0.0]
    return len(flat), zero


def rst_table(title, header, rows):
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    rule = "  ".join("=" * w for w in widths)
    print(title)
    print("-" * len(title))
    print()
    print(rule)
    print("  ".join(h.rjust(w) for h, w in zip(header, widths)))
    print(rule)
    for r in rows:
        print("  ".join(c.rjust(w) for c, w in zip(r, widths)))
    print(rule)
    print()


def run_stage(model, loss_fn, opt, xtr, ytr, xva, yva, epochs, batch, rng):
    step_fn = nn.value_and_grad(model, loss_fn)
    n_leaves, zero = grad_audit(loss_fn, model, mx.array(xtr[:batch]), mx.array(ytr[:batch]))
    xva_m, yva_m = mx.array(xva), mx.array(yva)
    xtr_m, ytr_m = mx.array(xtr), mx.array(ytr)
    rows = []

    def report(ep, tr_loss, secs):
        sc = np.array(model(xva_m))
        va_loss = loss_fn(model, xva_m, yva_m).item()
        rows.append((str(ep), "-" if tr_loss is None else f"{tr_loss:.4f}",
                     f"{va_loss:.4f}", f"{100 * ndcg_at(sc, yva):.2f}%", f"{secs:.1f}"))

    report(0, None, 0.0)
    t0 = time.time()
    for ep in range(1, epochs + 1):
        perm = rng.permutation(len(xtr))
        tot, nb = 0.0, 0
        for i in range(0, len(perm) - batch + 1, batch):
            idx = mx.array(perm[i:i + batch])
            loss, grads = step_fn(model, xtr_m[idx], ytr_m[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            nb += 1
        report(ep, tot / nb, time.time() - t0)
    return rows, n_leaves, zero


def main():
    rng = np.random.default_rng(11)
    w1 = rng.normal(size=(N_FEAT, 6)).astype(np.float32) * 0.6
    xtr, ytr = make_queries(1600, rng, w1)
    xva, yva = make_queries(200, rng, w1)
    print(f"{len(xtr)} train / {len(xva)} valid queries x {N_DOCS} recipes, "
          f"grade histogram {np.bincount(ytr.astype(int).ravel()).tolist()}")
    print()

    mx.random.seed(3)
    # ---- stage 1: pointwise regression on the grades -------------------------
    pointwise = PointwiseScorer()
    mx.eval(pointwise.parameters())
    opt1 = optim.SGD(learning_rate=0.02, momentum=0.9)
    rows1, n1, z1 = run_stage(pointwise, mse_loss, opt1, xtr, ytr, xva, yva,
                              epochs=6, batch=16, rng=rng)
    rst_table(f"stage 1: pointwise MSE  (grad leaves {n1}, zero {z1 or 'none'})",
              ["epoch", "train_mse", "valid_mse", "NDCG@10", "secs"], rows1)

    # ---- stage 2: frozen copied trunk + new listwise head ---------------------
    ranker = ListwiseRanker()
    ranker.trunk.update(pointwise.trunk.parameters())
    ranker.trunk.freeze()
    mx.eval(ranker.parameters())
    trunk_before = {k: np.array(v) for k, v in tree_flatten(ranker.trunk.parameters())}
    n_train = sum(v.size for _, v in tree_flatten(ranker.trainable_parameters()))
    n_all = sum(v.size for _, v in tree_flatten(ranker.parameters()))

    yva_m = mx.array(yva)
    p = listnet_target(yva_m)
    floor = float(-(p * mx.log(p)).sum(-1).mean())

    opt2 = optim.Adam(learning_rate=3e-3)
    rows2, n2, z2 = run_stage(ranker, listnet_loss, opt2, xtr, ytr, xva, yva,
                              epochs=8, batch=16, rng=rng)
    rst_table(f"stage 2: ListNet head on frozen trunk  (trainable {n_train} of {n_all} "
              f"weights, grad leaves {n2}, zero {z2 or 'none'})",
              ["epoch", "train_listnet", "valid_listnet", "NDCG@10", "secs"], rows2)

    drift = max(float(np.abs(np.array(v) - trunk_before[k]).max())
                for k, v in tree_flatten(ranker.trunk.parameters()))
    print(f"ListNet floor on valid (entropy of the target lists): {floor:.4f} nats")
    print(f"max change of the frozen trunk during stage 2: {drift:.3g}")


if __name__ == "__main__":
    main()
