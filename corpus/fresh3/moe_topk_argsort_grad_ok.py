"""Tiny mixture-of-experts regressor with top-2 routing (DeepSeek-style: argsort the router
scores, gather the top-k weights), trained with RMSprop."""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

N_EXP, TOPK, D = 4, 2, 16


class MoE(nn.Module):
    def __init__(self):
        super().__init__()
        self.router = nn.Linear(D, N_EXP)
        self.experts = [nn.Sequential(nn.Linear(D, 32), nn.GELU(), nn.Linear(32, 1))
                        for _ in range(N_EXP)]

    def __call__(self, x):
        scores = mx.softmax(self.router(x), axis=-1)
        inds = mx.stop_gradient(mx.argsort(-scores, axis=-1)[:, :TOPK])
        weights = mx.take_along_axis(scores, inds, axis=-1)
        weights = weights / weights.sum(-1, keepdims=True)
        outs = mx.concatenate([e(x) for e in self.experts], axis=-1)
        picked = mx.take_along_axis(outs, inds, axis=-1)
        return (picked * weights).sum(-1)


mx.random.seed(0)
X = mx.random.normal((1024, D))
y = mx.where(X[:, 0] > 0, X[:, 1] * 2, -X[:, 2]) + 0.05 * mx.random.normal((1024,))

model = MoE()
opt = optim.RMSprop(learning_rate=3e-3)
lg = nn.value_and_grad(model, lambda m, x, t: nn.losses.mse_loss(m(x), t))
for epoch in range(1, 21):
    perm = mx.random.permutation(1024)
    for i in range(0, 1024, 128):
        idx = perm[i:i + 128]
        loss, grads = lg(model, X[idx], y[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
    print(f"epoch {epoch:2d}/20  mse={nn.losses.mse_loss(model(X), y).item():.4f}")
