# Fine-tune a tiny top-2 mixture-of-experts tagger (SwitchGLU-style experts via gather_mm).
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


class SwitchLinear(nn.Module):
    def __init__(self, in_dims, out_dims, num_experts):
        super().__init__()
        s = math.sqrt(1.0 / in_dims)
        self.weight = mx.random.uniform(-s, s, (num_experts, out_dims, in_dims))

    def __call__(self, x, indices):
        return mx.gather_mm(x, self.weight.swapaxes(-1, -2), rhs_indices=indices)


class SwitchGLU(nn.Module):
    def __init__(self, dims, hidden, num_experts):
        super().__init__()
        self.gate_proj = SwitchLinear(dims, hidden, num_experts)
        self.up_proj = SwitchLinear(dims, hidden, num_experts)
        self.down_proj = SwitchLinear(hidden, dims, num_experts)

    def __call__(self, x, indices):
        x = mx.expand_dims(x, (-2, -3))
        idx = indices
        if self.training:
            idx = mx.stop_gradient(idx)
        x_up = self.up_proj(x, idx)
        x_gate = self.gate_proj(x, idx)
        x = self.down_proj(nn.silu(x_gate) * x_up, idx)
        return x.squeeze(-2)


class MoEBlock(nn.Module):
    def __init__(self, dims, hidden, num_experts, top_k):
        super().__init__()
        self.k = top_k
        self.n = num_experts
        self.gate = nn.Linear(dims, num_experts, bias=False)
        self.experts = SwitchGLU(dims, hidden, num_experts)

    def __call__(self, x):
        gates = mx.softmax(self.gate(x), axis=-1)
        inds = mx.argpartition(-gates, kth=self.k - 1, axis=-1)[..., : self.k]
        onehot = (inds[..., None] == mx.arange(self.n)).astype(gates.dtype)
        scores = (onehot * gates[..., None, :]).sum(-1)
        y = self.experts(x, inds)
        return (y * scores[..., None]).sum(-2)


class Tagger(nn.Module):
    def __init__(self, vocab, dims, n_tags):
        super().__init__()
        self.embed = nn.Embedding(vocab, dims)
        self.moe = MoEBlock(dims, 2 * dims, num_experts=4, top_k=2)
        self.norm = nn.RMSNorm(dims)
        self.head = nn.Linear(dims, n_tags)

    def __call__(self, tok):
        h = self.embed(tok)
        h = h + self.moe(self.norm(h))
        return self.head(h)


def make_data(n, vocab, n_tags):
    tok = mx.random.randint(0, vocab, (n,))
    tag = (tok * 7 + 3) % n_tags
    flip = mx.random.uniform(shape=(n,)) < 0.1
    tag = mx.where(flip, mx.random.randint(0, n_tags, (n,)), tag)
    return tok, tag


def main():
    mx.random.seed(11)
    vocab, n_tags = 48, 6
    tok, tag = make_data(2048, vocab, n_tags)
    model = Tagger(vocab, 32, n_tags)
    model.train()
    opt = optim.Adam(learning_rate=1e-3)

    def loss_fn(m, x, y):
        return nn.losses.cross_entropy(m(x), y, reduction="mean")

    step = nn.value_and_grad(model, loss_fn)
    t0 = time.perf_counter()
    bs = 128
    for it in range(200):
        i = (it * bs) % tok.shape[0]
        x, y = tok[i : i + bs], tag[i : i + bs]
        loss, grads = step(model, x, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if it % 20 == 0 or it == 199:
            print(f"it {it:4d}  loss {loss.item():.4f}  {time.perf_counter() - t0:.1f}s")

    model.eval()
    acc = (mx.argmax(model(tok), axis=-1) == tag).astype(mx.float32).mean().item()
    print(f"tag accuracy {acc:.3f}")


if __name__ == "__main__":
    main()
