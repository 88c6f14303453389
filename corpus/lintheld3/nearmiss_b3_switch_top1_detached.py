"""Switch-style (top-1) routed classifier; expert choice made by a small helper."""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


def pick_expert(router_logits):
    """Hard top-1 choice; the choice itself is not differentiable."""
    return mx.stop_gradient(mx.argmax(router_logits, axis=-1))


class SwitchLayer(nn.Module):
    def __init__(self, dim, n_experts):
        super().__init__()
        self.gate = nn.Linear(dim, n_experts)
        self.w = mx.random.normal((n_experts, dim, dim)) * dim ** -0.5

    def __call__(self, h):
        logits = self.gate(h)
        probs = mx.softmax(logits, axis=-1)
        choice = pick_expert(logits)                                   # (B,)
        p_choice = mx.take_along_axis(probs, choice[:, None], axis=-1)  # (B, 1)
        expert_w = mx.take(self.w, choice, axis=0)                     # (B, D, D)
        out = (h[:, None, :] @ expert_w).squeeze(1)
        return h + p_choice * nn.gelu(out)


class Net(nn.Module):
    def __init__(self, d_in, dim, n_cls):
        super().__init__()
        self.stem = nn.Linear(d_in, dim)
        self.switch = SwitchLayer(dim, 4)
        self.cls = nn.Linear(dim, n_cls)

    def __call__(self, x):
        return self.cls(self.switch(nn.relu(self.stem(x))))


if __name__ == "__main__":
    mx.random.seed(10)
    x = mx.random.normal((1024, 6))
    y = ((x[:, 0] * x[:, 1] > 0).astype(mx.int32) + (x[:, 2] > 1.0).astype(mx.int32))
    net = Net(6, 16, 3)
    gate0 = mx.array(net.switch.gate.weight)
    opt = optim.AdamW(learning_rate=5e-3, weight_decay=1e-4)
    vg = nn.value_and_grad(net, lambda m, a, b: nn.losses.cross_entropy(m(a), b, reduction="mean"))
    it = 0
    while it < 300:
        idx = mx.random.randint(0, 1024, (64,))
        loss, g = vg(net, x[idx], y[idx])
        opt.update(net, g)
        mx.eval(net.parameters(), opt.state)
        if it % 75 == 0:
            print(f"it {it} loss {loss.item():.4f}")
        it += 1
    acc = mx.mean(mx.argmax(net(x), axis=1) == y).item()
    moved = mx.abs(net.switch.gate.weight - gate0).max().item()
    print(f"acc {acc:.3f}; router gate max |dW| {moved:.3e}")
