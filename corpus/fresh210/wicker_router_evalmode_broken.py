# Tiny top-2 mixture-of-experts regressor, built the way mlx_lm builds its MoE
# blocks (SwitchGLU over mx.gather_mm), "loaded" and then fine-tuned.
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(3)


class SwitchLinear(nn.Module):
    def __init__(self, din, dout, n_experts):
        super().__init__()
        s = din ** -0.5
        self.weight = mx.random.uniform(-s, s, (n_experts, dout, din))

    def __call__(self, x, idx):
        return mx.gather_mm(x, self.weight.swapaxes(-1, -2), rhs_indices=idx)


class SwitchGLU(nn.Module):
    def __init__(self, dims, hidden, n_experts):
        super().__init__()
        self.gate_proj = SwitchLinear(dims, hidden, n_experts)
        self.up_proj = SwitchLinear(dims, hidden, n_experts)
        self.down_proj = SwitchLinear(hidden, dims, n_experts)

    def __call__(self, x, idx):
        if self.training:
            idx = mx.stop_gradient(idx)
        x = mx.expand_dims(x, (-2, -3))
        h = nn.silu(self.gate_proj(x, idx)) * self.up_proj(x, idx)
        return self.down_proj(h, idx).squeeze(-2)


class MoEBlock(nn.Module):
    def __init__(self, dims=16, hidden=32, n_experts=6, top_k=2):
        super().__init__()
        self.top_k = top_k
        self.router = nn.Linear(dims, n_experts, bias=False)
        self.experts = SwitchGLU(dims, hidden, n_experts)

    def __call__(self, x):
        logits = self.router(x)
        k = self.top_k
        idx = mx.argpartition(-logits, kth=k - 1, axis=-1)[..., :k]
        top = mx.take_along_axis(logits, mx.stop_gradient(idx), axis=-1)
        scores = mx.softmax(top, axis=-1)
        y = self.experts(x, idx)
        return (y * scores[..., None]).sum(axis=-2)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(4, 16)
        self.moe = MoEBlock()
        self.out = nn.Linear(16, 1)

    def __call__(self, x):
        h = self.inp(x)
        h = h + self.moe(nn.gelu(h))
        return self.out(h).squeeze(-1)


def load_model():
    # like mlx_lm.load(): the returned model is put in inference mode
    m = Net()
    mx.eval(m.parameters())
    m.eval()
    return m


def make_data(n):
    x = mx.random.normal((n, 4))
    y = mx.where(x[:, 0] > 0, mx.sin(2 * x[:, 1]), x[:, 2] * x[:, 3]) + 0.3 * x[:, 0]
    return x, y


xtr, ytr = make_data(2048)
xva, yva = make_data(512)

model = load_model()
print(f"loaded; baseline val mse {nn.losses.mse_loss(model(xva), yva).item():.4f}")

opt = optim.AdamW(learning_rate=2e-3, weight_decay=0.01)


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


step = nn.value_and_grad(model, loss_fn)
t0 = time.time()
bs = 64
for it in range(1, 601):
    i = (it * bs) % (2048 - bs)
    loss, grads = step(model, xtr[i:i + bs], ytr[i:i + bs])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if it % 50 == 0:
        va = nn.losses.mse_loss(model(xva), yva).item()
        print(f"it {it:4d} | train {loss.item():.4f} | val {va:.4f} | {time.time() - t0:.1f}s")
print("done")
