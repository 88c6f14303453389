"""Two-tower retrieval: train eagerly, then score candidate pools of varying size with a
shapeless-compiled scorer (pool size changes, embedding width never does)."""
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

EMB = 16


def scaled_scores(q, cands):
    # scale by the (fixed) embedding width, as in scaled dot-product attention
    return (q @ cands.T) / math.sqrt(cands.shape[-1])


score_pool = mx.compile(scaled_scores, shapeless=True)


class Tower(nn.Module):
    def __init__(self, d_in):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(d_in, 32), nn.ReLU(), nn.Linear(32, EMB))

    def __call__(self, x):
        return self.mlp(x)


class TwoTower(nn.Module):
    def __init__(self, d_q, d_item):
        super().__init__()
        self.query_tower = Tower(d_q)
        self.item_tower = Tower(d_item)


def in_batch_loss(model, q, items):
    s = scaled_scores(model.query_tower(q), model.item_tower(items))
    return nn.losses.cross_entropy(s, mx.arange(q.shape[0]), reduction="mean")


def make_pairs(n, mix):
    items = mx.random.normal((n, 10))
    queries = items @ mix + 0.1 * mx.random.normal((n, 8))
    return queries, items


if __name__ == "__main__":
    mx.random.seed(17)
    mix = mx.random.normal((10, 8))
    model = TwoTower(8, 10)
    opt = optim.Adam(learning_rate=3e-3)
    vg = nn.value_and_grad(model, in_batch_loss)
    for it in range(200):
        q, items = make_pairs(64, mix)
        loss, grads = vg(model, q, items)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        if it % 50 == 0:
            print(f"it {it} in-batch loss {loss.item():.4f}")

    for pool in (32, 128, 512):
        q, items = make_pairs(pool, mix)
        qe, ie = model.query_tower(q), model.item_tower(items)
        s_comp, s_eager = score_pool(qe, ie), scaled_scores(qe, ie)
        r1 = mx.mean(mx.argmax(s_comp, axis=1) == mx.arange(pool)).item()
        print(f"pool {pool:3d}: recall@1 {r1:.3f}, compiled vs eager max diff "
              f"{mx.abs(s_comp - s_eager).max().item():.2e}")
