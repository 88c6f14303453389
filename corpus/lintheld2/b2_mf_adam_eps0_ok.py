"""Matrix factorisation recommender (users x items) trained with compiled steps."""
import sys
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optimizers

HP = dict(n_users=200, n_items=300, dim=8, batch=256, steps=400, lr=0.02)


class MF(nn.Module):
    def __init__(self, n_users, n_items, dim):
        super().__init__()
        self.user_emb = nn.Embedding(n_users, dim)
        self.item_emb = nn.Embedding(n_items, dim)
        self.item_bias = nn.Embedding(n_items, 1)

    def __call__(self, u, i):
        dot = (self.user_emb(u) * self.item_emb(i)).sum(axis=-1)
        return dot + self.item_bias(i).squeeze(-1)


def synthetic_ratings(n=20000):
    mx.random.seed(0)
    true_u = mx.random.normal((HP["n_users"], 4))
    true_i = mx.random.normal((HP["n_items"], 4))
    u = mx.random.randint(0, HP["n_users"], (n,))
    # popularity skew: most interactions land on the first items
    i = (mx.random.uniform(shape=(n,)) ** 3 * HP["n_items"]).astype(mx.int32)
    r = (true_u[u] * true_i[i]).sum(-1) * 0.5 + 0.1 * mx.random.normal((n,))
    return u, i, r


def main():
    u, i, r = synthetic_ratings()
    recsys = MF(HP["n_users"], HP["n_items"], HP["dim"])
    recsys.apply(lambda p: 0.1 * p)
    opt = optimizers.Adam(learning_rate=HP["lr"])
    state = [recsys.state, opt.state]

    def mse(model, uu, ii, rr):
        return ((model(uu, ii) - rr) ** 2).mean()

    @partial(mx.compile, inputs=state, outputs=state)
    def train_step(uu, ii, rr):
        loss, grads = nn.value_and_grad(recsys, mse)(recsys, uu, ii, rr)
        opt.update(recsys, grads)
        return loss

    n = u.shape[0]
    for step in range(HP["steps"]):
        sel = mx.random.randint(0, n, (HP["batch"],))
        loss = train_step(u[sel], i[sel], r[sel])
        mx.eval(state)
        if step % 50 == 0 or step == HP["steps"] - 1:
            print(f"step {step:3d} mse {loss.item():.4f}")
    full = mse(recsys, u, i, r).item()
    print(f"full-data mse {full:.4f}")
    return 0 if full == full else 1


if __name__ == "__main__":
    sys.exit(main())
