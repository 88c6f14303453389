# Tiny mixture-of-experts regressor with DeepSeek-V3 style group-limited routing:
# experts are split in groups, only the best `topk_group` groups may be used.
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(0)

D, H = 16, 32
N_EXPERTS, N_GROUP, TOPK_GROUP, TOP_K = 8, 4, 2, 2


class GroupedMoE(nn.Module):
    def __init__(self):
        super().__init__()
        self.gate = nn.Linear(D, N_EXPERTS, bias=False)
        self.w1 = mx.random.normal((N_EXPERTS, D, H)) * D**-0.5
        self.w2 = mx.random.normal((N_EXPERTS, H, D)) * H**-0.5

    def route(self, x):
        scores = mx.sigmoid(self.gate(x))  # (N, E)
        scores = scores.reshape(x.shape[0], N_GROUP, -1)
        group_scores = mx.topk(scores, 2, axis=-1).sum(axis=-1, keepdims=True)
        k = N_GROUP - TOPK_GROUP
        group_idx = mx.argpartition(group_scores, kth=k - 1, axis=-2)[..., :k, :]
        scores = mx.put_along_axis(scores, mx.stop_gradient(group_idx), mx.array(0.0), axis=-2)
        scores = scores.reshape(x.shape[0], -1)
        inds = mx.stop_gradient(mx.argpartition(-scores, kth=TOP_K - 1, axis=-1)[..., :TOP_K])
        weights = mx.take_along_axis(scores, inds, axis=-1)
        weights = weights / (weights.sum(axis=-1, keepdims=True) + 1e-9)
        return inds, weights

    def __call__(self, x):
        inds, weights = self.route(x)
        out = mx.zeros_like(x)
        for j in range(TOP_K):
            e = inds[:, j]
            h = nn.silu(mx.einsum("nd,ndh->nh", x, self.w1[e]))
            out = out + weights[:, j:j + 1] * mx.einsum("nh,nhd->nd", h, self.w2[e])
        return out


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.moe = GroupedMoE()
        self.head = nn.Linear(D, 1)

    def __call__(self, x):
        return self.head(x + self.moe(x))


target_w = mx.random.normal((D, 1), key=mx.random.key(5))


def batch(n=128):
    x = mx.random.normal((n, D))
    return x, mx.tanh(0.3 * (x @ target_w))


model = Net()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=3e-3)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


step_fn = nn.value_and_grad(model, loss_fn)
t0 = time.time()
for step in range(1, 301):
    x, y = batch()
    loss, grads = step_fn(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step == 1 or step % 30 == 0:
        print(f"[{step:3d}/300] loss={loss.item():.4f} ({time.time() - t0:.1f}s)")
