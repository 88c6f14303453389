# Rating prediction (biased matrix factorisation) with a hand-written *sparse*
# SGD step: only the rows of the user / item tables that appear in the batch
# are touched, so we never materialise a dense gradient for the tables.
import time

import numpy as np
import mlx.core as mx

rng = np.random.default_rng(3)
N_USERS, N_ITEMS, RANK = 10, 6, 3
N_RATINGS, BATCH, EPOCHS = 600000, 40000, 25
LR_DENSE, LR_ROWS = 0.1, 2.5  # rows get few updates per step, so a larger step

# ---- synthetic ratings -------------------------------------------------------
mu_true = 3.5
bu_true = rng.normal(0, 0.5, N_USERS)
bi_true = rng.normal(0, 0.5, N_ITEMS)
P_true = rng.normal(0, 0.6, (N_USERS, RANK))
Q_true = rng.normal(0, 0.6, (N_ITEMS, RANK))
users = rng.integers(0, N_USERS, N_RATINGS)
items = rng.integers(0, N_ITEMS, N_RATINGS)
ratings = (mu_true + bu_true[users] + bi_true[items]
           + (P_true[users] * Q_true[items]).sum(1)
           + rng.normal(0, 0.25, N_RATINGS)).astype(np.float32)
split = int(0.9 * N_RATINGS)
tr_u, tr_i, tr_r = users[:split], items[:split], ratings[:split]
va_u, va_i, va_r = mx.array(users[split:]), mx.array(items[split:]), mx.array(ratings[split:])

# ---- parameters (plain arrays, no nn.Module) ---------------------------------
mu = mx.array(float(tr_r.mean()))  # start from the global mean rating
bu = mx.zeros((N_USERS,))
bi = mx.zeros((N_ITEMS,))
P = mx.random.normal((N_USERS, RANK), key=mx.random.key(0)) * 0.1
Q = mx.random.normal((N_ITEMS, RANK), key=mx.random.key(1)) * 0.1


def batch_loss(mu, bu_rows, bi_rows, p_rows, q_rows, r):
    pred = mu + bu_rows + bi_rows + (p_rows * q_rows).sum(axis=1)
    return mx.mean((pred - r) ** 2)


grad_fn = mx.value_and_grad(batch_loss, argnums=(0, 1, 2, 3, 4))


def rmse(u, i, r):
    pred = mu + bu[u] + bi[i] + (P[u] * Q[i]).sum(axis=1)
    return mx.sqrt(mx.mean((pred - r) ** 2)).item()


baseline = float(np.sqrt(np.mean((np.array(va_r) - tr_r.mean()) ** 2)))
print(f"predict-the-mean baseline RMSE on held-out: {baseline:.4f}  (noise floor 0.25)")
print(f"{'epoch':>5} | {'train mse':>9} | {'val rmse':>8} | {'sec':>5}")
t0 = time.time()
for epoch in range(1, EPOCHS + 1):
    perm = rng.permutation(split)
    run, nb = 0.0, 0
    for s in range(0, split, BATCH):
        idx = perm[s:s + BATCH]
        u, i, r = mx.array(tr_u[idx]), mx.array(tr_i[idx]), mx.array(tr_r[idx])
        loss, (g_mu, g_bu, g_bi, g_p, g_q) = grad_fn(mu, bu[u], bi[i], P[u], Q[i], r)
        # sparse SGD: scatter the per-example row gradients back into the tables
        mu = mu - LR_DENSE * g_mu
        bu[u] -= LR_ROWS * g_bu
        bi[i] -= LR_ROWS * g_bi
        P[u] -= LR_ROWS * g_p
        Q[i] -= LR_ROWS * g_q
        mx.eval(mu, bu, bi, P, Q, loss)
        run += loss.item()
        nb += 1
    print(f"{epoch:5d} | {run / nb:9.4f} | {rmse(va_u, va_i, va_r):8.4f} | {time.time() - t0:5.1f}")
