# Tiny Mamba-style selective-SSM language model on a synthetic canal-lock log.
# The model helpers follow mamba.py's mlx/misc.py (unsqueeze / softplus) and
# the sequential selective scan of mamba_mlx.py.
import time
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(3)


def softplus(x, beta=1, threshold=20):
    scaled_x = beta * x
    mask = scaled_x > threshold
    return mx.where(mask, x, 1 / beta * mx.logaddexp(0, x))


def unsqueeze(x, axis):
    """Same API as PyTorch."""
    assert axis <= len(x.shape)
    if axis >= 0:
        new_shape = x.shape[:axis] + [1] + x.shape[axis:]
    else:
        new_shape = x.shape + [1]
    return x.reshape(new_shape)


class MambaBlock(nn.Module):
    def __init__(self, d_model, d_state=8, expand=2):
        super().__init__()
        ed = expand * d_model
        self.in_proj = nn.Linear(d_model, 2 * ed, bias=False)
        self.x_proj = nn.Linear(ed, 1 + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(1, ed, bias=True)
        A = mx.repeat(mx.arange(1, d_state + 1, dtype=mx.float32)[None, :], ed, axis=0)
        self.A_log = mx.log(A)
        self.D = mx.ones((ed,))
        self.out_proj = nn.Linear(ed, d_model, bias=False)
        self.norm = nn.RMSNorm(d_model)
        self.d_state = d_state

    def ssm(self, x):
        A = -mx.exp(self.A_log)
        dbc = self.x_proj(x)
        delta, B, C = mx.split(dbc, [1, 1 + self.d_state], axis=-1)
        delta = softplus(self.dt_proj(delta))
        deltaA = mx.exp(unsqueeze(delta, -1) * A)          # (B, L, ED, N)
        deltaB = unsqueeze(delta, -1) * unsqueeze(B, 2)    # (B, L, ED, N)
        BX = deltaB * unsqueeze(x, -1)
        h = mx.zeros((x.shape[0], x.shape[2], self.d_state))
        hs = []
        for t in range(x.shape[1]):
            h = deltaA[:, t] * h + BX[:, t]
            hs.append(h)
        hs = mx.stack(hs, axis=1)
        y = (hs @ unsqueeze(C, -1)).squeeze(3)
        return y + self.D * x

    def __call__(self, x):
        xz = self.in_proj(self.norm(x))
        xx, z = mx.split(xz, 2, axis=-1)
        y = self.ssm(nn.silu(xx)) * nn.silu(z)
        return x + self.out_proj(y)


class LockLM(nn.Module):
    def __init__(self, vocab, d_model=24, n_layers=2):
        super().__init__()
        self.emb = nn.Embedding(vocab, d_model)
        self.layers = [MambaBlock(d_model) for _ in range(n_layers)]
        self.norm_f = nn.RMSNorm(d_model)

    def __call__(self, tok):
        x = self.emb(tok)
        for layer in self.layers:
            x = layer(x)
        return self.emb.as_linear(self.norm_f(x))


# synthetic lock log: a stream of chamber levels (tokens 2..11); each level
# must be echoed 3 steps later (a short memory task)
VOCAB, SEQ, BATCH = 12, 16, 32


def make_batch():
    lev = mx.random.randint(2, VOCAB, (BATCH, SEQ))
    src = mx.concatenate([lev[:, :SEQ - 3], lev[:, :3]], axis=1)
    tgt = mx.concatenate([mx.zeros((BATCH, 3), dtype=mx.int32), lev[:, :SEQ - 3]], axis=1)
    return src, tgt


model = LockLM(VOCAB)
opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.01)


def loss_fn(model, src, tgt):
    logits = model(src)[:, 3:]
    return nn.losses.cross_entropy(logits, tgt[:, 3:], reduction="mean")


loss_and_grad = nn.value_and_grad(model, loss_fn)
t0 = time.time()
for it in range(1, 301):
    src, tgt = make_batch()
    loss, grads = loss_and_grad(model, src, tgt)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if it % 25 == 0:
        print(f"iter {it:4d} | loss {loss.item():.4f} | ppl {math.exp(loss.item()):7.3f} | {time.time() - t0:5.1f}s")
print("done")
