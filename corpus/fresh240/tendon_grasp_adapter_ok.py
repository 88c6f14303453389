import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten


class LoRALayer(nn.Module):
    def __init__(
        self,
        base_layer: nn.Module,
        rank: int = 8,
        alpha: float = 16,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.base_layer = base_layer
        self.rank = rank
        self.alpha = alpha
        self.scaling = alpha / rank

        in_dim = base_layer.weight.shape[1]
        out_dim = base_layer.weight.shape[0]

        self.lora_A = nn.Linear(in_dim, rank, bias=False)
        self.lora_B = nn.Linear(rank, out_dim, bias=False)

        self.lora_A.weight = mx.zeros_like(self.lora_A.weight)
        self.lora_B.weight = mx.zeros_like(self.lora_B.weight)

        self.dropout = nn.Dropout(p=dropout) if dropout > 0 else nn.Identity()

    def __call__(self, x: mx.array) -> mx.array:
        base_output = self.base_layer(x)
        lora_output = self.lora_B(self.lora_A(self.dropout(x)))
        return base_output + lora_output * self.scaling


class ActionPolicy(nn.Module):
    """Tiny vision-language-action head: fused scene+instruction features -> 7-DoF action."""

    def __init__(self, feat_dim=32, hidden=64, action_dim=7):
        super().__init__()
        self.fuse = nn.Linear(feat_dim, hidden)
        self.q_proj = nn.Linear(hidden, hidden)
        self.v_proj = nn.Linear(hidden, hidden)
        self.action_head = nn.Linear(hidden, action_dim)

    def __call__(self, x):
        h = nn.gelu(self.fuse(x))
        h = h + nn.gelu(self.q_proj(h)) * mx.tanh(self.v_proj(h))
        return mx.tanh(self.action_head(h))


def make_episodes(n, key):
    k1, k2 = mx.random.split(key)
    feats = mx.random.normal((n, 32), key=k1)
    mix = mx.random.normal((32, 7), key=mx.random.key(7)) / 32 ** 0.5
    actions = mx.tanh(feats @ mix + 0.3 * mx.sin(feats[:, :7]))
    actions = actions + 0.02 * mx.random.normal(actions.shape, key=k2)
    return feats, mx.clip(actions, -1.0, 1.0)


def main():
    mx.random.seed(0)
    x_tr, y_tr = make_episodes(4096, mx.random.key(1))
    x_va, y_va = make_episodes(512, mx.random.key(2))

    model = ActionPolicy()
    model.q_proj = LoRALayer(model.q_proj, rank=8, alpha=16)
    model.v_proj = LoRALayer(model.v_proj, rank=8, alpha=16)
    n_params = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    print(f"trainable params: {n_params}")

    opt = optim.AdamW(learning_rate=2e-3, weight_decay=0.01)

    def loss_fn(m, x, y):
        return nn.losses.mse_loss(m(x), y)

    step_fn = nn.value_and_grad(model, loss_fn)
    bs = 128
    t0 = time.time()
    step = 0
    for epoch in range(8):
        perm = mx.random.permutation(x_tr.shape[0])
        tot = 0.0
        nb = 0
        for i in range(0, x_tr.shape[0], bs):
            idx = perm[i:i + bs]
            loss, grads = step_fn(model, x_tr[idx], y_tr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            nb += 1
            step += 1
        model.eval()
        val = loss_fn(model, x_va, y_va).item()
        model.train()
        print(f"epoch {epoch + 1} step {step} train_mse {tot / nb:.4f} val_mse {val:.4f}")
    print(f"final val_mse {val:.4f} ({time.time() - t0:.1f}s)")


if __name__ == "__main__":
    main()
