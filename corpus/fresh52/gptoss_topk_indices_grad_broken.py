"""Tiny mixture-of-experts regressor with a gpt-oss style top-k router.

Four expert MLPs, the router picks the top-2 per sample, the chosen experts'
outputs are mixed with softmax weights over the selected router logits.
"""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

IN_DIM, HID, N_EXPERTS, TOP_K = 8, 32, 4, 2


def mlx_topk(a, k, axis=-1):
    """MLX equivalent of torch.topk"""
    partitioned_indices = mx.argpartition(a, kth=-k, axis=axis)
    top_k_indices = partitioned_indices[..., -k:]
    top_k_values = mx.take_along_axis(a, top_k_indices, axis=axis)
    return top_k_values, top_k_indices


class MoE(nn.Module):
    def __init__(self):
        super().__init__()
        self.router = nn.Linear(IN_DIM, N_EXPERTS)
        scale = IN_DIM ** -0.5
        self.w1 = mx.random.normal((N_EXPERTS, IN_DIM, HID)) * scale
        self.b1 = mx.zeros((N_EXPERTS, HID))
        self.w2 = mx.random.normal((N_EXPERTS, HID, 1)) * HID ** -0.5
        self.b2 = mx.zeros((N_EXPERTS, 1))

    def __call__(self, x):
        logits = self.router(x)                       # (B, E)
        top_vals, top_idx = mlx_topk(logits, TOP_K)   # (B, K)
        gates = mx.softmax(top_vals, axis=-1)         # (B, K)
        w1 = self.w1[top_idx]                         # (B, K, IN, HID)
        h = mx.einsum("bi,bkih->bkh", x, w1) + self.b1[top_idx]
        h = nn.gelu(h)
        y = mx.einsum("bkh,bkho->bko", h, self.w2[top_idx]) + self.b2[top_idx]
        return (gates[..., None] * y).sum(axis=1).squeeze(-1)


def make_data(n, rng, coefs):
    x = rng.standard_normal((n, IN_DIM)).astype(np.float32)
    regime = (x[:, 0] > 0).astype(np.int32) + 2 * (x[:, 1] > 0).astype(np.int32)
    y = np.einsum("ni,ni->n", x, coefs[regime]) + 0.05 * rng.standard_normal(n).astype(np.float32)
    return mx.array(x), mx.array(y)


def main():
    mx.random.seed(3)
    rng = np.random.default_rng(3)
    coefs = rng.standard_normal((4, IN_DIM)).astype(np.float32)
    x_train, y_train = make_data(4096, rng, coefs)
    x_val, y_val = make_data(1024, rng, coefs)

    model = MoE()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=3e-3)

    def loss_fn(m, xb, yb):
        return nn.losses.mse_loss(m(xb), yb)

    step_fn = nn.value_and_grad(model, loss_fn)
    batch = 128
    print(f"{'epoch':>5} | {'train_mse':>9} | {'val_mse':>8} | {'sec':>5}")
    print("-" * 38)
    t0 = time.time()
    for epoch in range(1, 61):
        perm = mx.array(rng.permutation(x_train.shape[0]))
        total, nb = 0.0, 0
        for i in range(0, x_train.shape[0], batch):
            idx = perm[i:i + batch]
            loss, grads = step_fn(model, x_train[idx], y_train[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            total += loss.item()
            nb += 1
        val = loss_fn(model, x_val, y_val).item()
        print(f"{epoch:>5} | {total / nb:>9.4f} | {val:>8.4f} | {time.time() - t0:>5.1f}")


if __name__ == "__main__":
    main()
