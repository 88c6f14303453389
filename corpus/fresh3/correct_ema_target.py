"""BYOL-style self-supervised pretraining: an online network (AdamW) predicts the projection
of a slowly moving EMA target network on another augmented view. The target is updated by
hand with tree_map (no optimizer). Metrics go out as JSON lines."""
import json

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map


def mlp(i, h, o):
    return nn.Sequential(nn.Linear(i, h), nn.ReLU(), nn.Linear(h, o))


class Online(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = mlp(16, 64, 32)
        self.projector = mlp(32, 64, 16)
        self.predictor = mlp(16, 64, 16)


def normalize(z):
    return z / (mx.linalg.norm(z, axis=-1, keepdims=True) + 1e-6)


mx.random.seed(9)
base = mx.random.normal((2048, 16))
online = Online()
target_enc, target_proj = mlp(16, 64, 32), mlp(32, 64, 16)
target_enc.update(online.encoder.parameters())
target_proj.update(online.projector.parameters())
opt = optim.AdamW(learning_rate=1e-3, weight_decay=1e-4)


def byol_loss(model, v1, v2):
    p = normalize(model.predictor(model.projector(model.encoder(v1))))
    z = normalize(mx.stop_gradient(target_proj(target_enc(v2))))
    return (2 - 2 * (p * z).sum(-1)).mean()


lg = nn.value_and_grad(online, byol_loss)
tau = 0.99
for step in range(1, 401):
    idx = mx.random.randint(0, 2048, (128,))
    x = base[idx]
    v1 = x + 0.3 * mx.random.normal(x.shape)
    v2 = x * mx.random.uniform(0.8, 1.2, x.shape)
    loss, grads = lg(online, v1, v2)
    opt.update(online, grads)
    target_enc.update(tree_map(lambda t, o: tau * t + (1 - tau) * o,
                               target_enc.parameters(), online.encoder.parameters()))
    target_proj.update(tree_map(lambda t, o: tau * t + (1 - tau) * o,
                                target_proj.parameters(), online.projector.parameters()))
    mx.eval(online.parameters(), opt.state, target_enc.parameters(),
            target_proj.parameters(), loss)
    if step % 20 == 0:
        print(json.dumps({"step": step, "byol_loss": round(loss.item(), 4), "tau": tau}))
