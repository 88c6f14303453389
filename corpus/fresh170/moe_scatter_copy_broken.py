# Tiny DeepSeekMoE-style block (1 shared + 3 routed experts, top-1 routing)
# trained on a product-interaction regression: y = x0*x1 - x2*x3 per token.
from typing import Tuple
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(3)
np.random.seed(3)


class TopKRouter(nn.Module):
    def __init__(self, hidden_dim, shared_experts, routed_experts, top_k_routers):
        super().__init__()
        self.shared_experts = shared_experts
        self.routed_experts = routed_experts
        self.total_experts = shared_experts + routed_experts
        self.top_k_routers = top_k_routers
        self.expert_embeddings = mx.random.uniform(shape=(hidden_dim, self.total_experts))

    def __call__(self, x):
        score_logits = x @ self.expert_embeddings
        score_logits[..., :self.shared_experts] = -float("inf")
        score_gate = mx.softmax(score_logits, axis=-1)
        score_gate[..., :self.shared_experts] = 1.0
        k = self.top_k_routers + self.shared_experts
        top_experts_indices = mx.stop_gradient(mx.argpartition(-score_gate, kth=k, axis=-1))[..., :k]
        return score_gate, top_experts_indices


class FFN(nn.Module):
    def __init__(self, hidden_dim, ff_dim):
        super().__init__()
        self.ff_1 = nn.Linear(hidden_dim, ff_dim)
        self.ff_2 = nn.Linear(ff_dim, hidden_dim)

    def __call__(self, x):
        return self.ff_2(mx.maximum(self.ff_1(x), 0))


class MoE(nn.Module):
    def __init__(self, hidden_dim, ff_dim, shared_experts, routed_experts, top_k_routers):
        super().__init__()
        self.shared_experts = shared_experts
        self.routed_experts = routed_experts
        self.total_experts = shared_experts + routed_experts
        self.top_k_routers = top_k_routers
        self.router = TopKRouter(hidden_dim, shared_experts, routed_experts, top_k_routers)
        self.experts = [FFN(hidden_dim, ff_dim) for _ in range(self.total_experts)]

    def __call__(self, x):
        batch, seq_len, emb_dim = x.shape
        experts_affinity, experts_indices = self.router(x)
        selected_experts_affinity = mx.take_along_axis(experts_affinity, experts_indices, axis=-1)
        routed_output = mx.zeros((x.shape[0], x.shape[1], self.top_k_routers + self.shared_experts, x.shape[2]))

        for e in range(self.top_k_routers + self.shared_experts):
            expert_indices = tuple(map(mx.array, np.where(experts_indices == e)))[:-1]  # we don't care about the expert dim
            routed_input = mx.contiguous(x[*expert_indices].reshape(-1, emb_dim))  # gather
            out_e = self.experts[e](routed_input)
            routed_output[:, :, e][*expert_indices] = out_e  # scatter

        routed_output = (routed_output * mx.expand_dims(selected_experts_affinity, axis=-1)).sum(axis=2)
        return routed_output


class TinyMoENet(nn.Module):
    def __init__(self, d_in=4, hidden=16):
        super().__init__()
        self.inp = nn.Linear(d_in, hidden)
        self.moe = MoE(hidden, 32, shared_experts=1, routed_experts=3, top_k_routers=1)
        self.out = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = self.inp(x)
        h = h + self.moe(h)
        return self.out(h).squeeze(-1)


def make_data(n, seq):
    x = np.random.randn(n, seq, 4).astype(np.float32)
    y = x[..., 0] * x[..., 1] - x[..., 2] * x[..., 3]
    return mx.array(x), mx.array(y.astype(np.float32))


xtr, ytr = make_data(512, 8)
xva, yva = make_data(128, 8)

model = TinyMoENet()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=3e-3)


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


loss_and_grad = nn.value_and_grad(model, loss_fn)
t0 = time.time()
bs = 64
for epoch in range(1, 31):
    perm = np.random.permutation(xtr.shape[0])
    tot = 0.0
    for i in range(0, len(perm), bs):
        idx = mx.array(perm[i:i + bs])
        loss, grads = loss_and_grad(model, xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
    if epoch % 3 == 0 or epoch == 1:
        val = loss_fn(model, xva, yva).item()
        print(f"epoch {epoch:2d} train_mse {tot / (len(perm) // bs):.4f} val_mse {val:.4f}")

print(f"done in {time.time() - t0:.1f}s, final val_mse {loss_fn(model, xva, yva).item():.4f} (predict-zero baseline {mx.mean(yva**2).item():.4f})")
