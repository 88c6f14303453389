"""Bilinear relevance scorer for query/document embeddings, ported from a PyTorch model."""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(11)
D, N = 32, 4096
W_true = mx.random.normal((D, D)) / D ** 0.5
queries = mx.random.normal((N, D))
docs = mx.random.normal((N, D))
scores = ((queries @ W_true) * docs).sum(-1)


class BilinearScorer(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.weight = mx.random.normal((dim, dim)) * 0.01
        self.bias = mx.zeros((1,))

    def __call__(self, q, d):
        return ((q @ self.weight) * d).sum(-1) + self.bias


model = BilinearScorer(D)
opt = optim.Lion(learning_rate=1e-3)
step_fn = nn.value_and_grad(model, lambda m, q, d, s: nn.losses.mse_loss(m(q, d), s))

print(f"{'epoch':>5} {'batch':>6} {'mse':>9} {'val_mse':>9}")
for epoch in range(30):
    perm = mx.random.permutation(N - 512)
    for b in range(0, N - 512, 128):
        idx = perm[b:b + 128]
        loss, grads = step_fn(model, queries[idx], docs[idx], scores[idx])
        opt.update(model, grads)
        mx.eval(loss, model.parameters(), opt.state)
    val = nn.losses.mse_loss(model(queries[-512:], docs[-512:]), scores[-512:])
    print(f"{epoch:>5} {b // 128:>6} {loss.item():>9.4f} {val.item():>9.4f}")
