"""One-layer message-passing network (sum aggregation) for node regression
on a random directed graph."""
import numpy as np

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


def propagate(h, src, dst, num_nodes):
    """Sum the messages h[src] into their destination nodes."""
    agg = mx.zeros((num_nodes, h.shape[-1]), dtype=h.dtype)
    agg[dst] += h[src]
    return agg


class SumGNN(nn.Module):
    def __init__(self, d_in, d_hidden):
        super().__init__()
        self.msg = nn.Linear(d_in, d_hidden)
        self.self_loop = nn.Linear(d_in, d_hidden)
        self.out = nn.Linear(d_hidden, 1)

    def __call__(self, x, src, dst):
        m = propagate(self.msg(x), src, dst, x.shape[0])
        return self.out(nn.relu(m + self.self_loop(x))).squeeze(-1)


def random_graph(num_nodes=300, avg_deg=5, d=6, seed=2):
    rng = np.random.default_rng(seed)
    n_edges = num_nodes * avg_deg
    src = rng.integers(0, num_nodes, n_edges)
    dst = rng.integers(0, num_nodes, n_edges)
    x = rng.normal(size=(num_nodes, d)).astype(np.float32)
    w = rng.normal(size=(d,)).astype(np.float32)
    nbr_sum = np.zeros((num_nodes, d), np.float32)
    np.add.at(nbr_sum, dst, x[src])
    y = np.tanh(nbr_sum @ w / 3.0) + 0.1 * x[:, 0]
    return x, src, dst, y.astype(np.float32)


def main():
    x_np, src_np, dst_np, y_np = random_graph()
    x, src, dst, y = (mx.array(a) for a in (x_np, src_np, dst_np, y_np))

    check = propagate(x, src, dst, x.shape[0])
    ref = np.zeros_like(x_np)
    np.add.at(ref, dst_np, x_np[src_np])
    print(f"aggregation max |err| vs numpy: {np.abs(np.array(check) - ref).max():.3f}")

    mx.random.seed(0)
    gnn = SumGNN(x.shape[1], 32)
    opt = optim.Adam(learning_rate=5e-3)
    loss_grad = nn.value_and_grad(gnn, lambda g: nn.losses.mse_loss(g(x, src, dst), y))
    for epoch in range(300):
        loss, grads = loss_grad(gnn)
        opt.update(gnn, grads)
        mx.eval(gnn.parameters(), opt.state)
        if epoch % 60 == 0 or epoch == 299:
            print(f"epoch {epoch} mse {loss.item():.4f}")


if __name__ == "__main__":
    main()
