# Tiny gated-delta-net language model (Qwen3-Next style linear-attention block)
# trained on a synthetic tide-ledger stream: readings 0-7 and a "new ledger page"
# token; target = has this reading already been logged on the current page.
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

SEED = 7
VOCAB = 9           # 0-7 readings, 8 = new page
N_OUT = 2           # 1 = reading already on this page
SEQ = 16
BATCH = 32
STEPS = 60
HIDDEN = 64


@partial(mx.compile, shapeless=True)
def compute_g(A_log, a, dt_bias):
    return mx.exp(-mx.exp(A_log.astype(mx.float32)) * nn.softplus(a + dt_bias)).astype(
        A_log.dtype
    )


def recurrent_gated_delta_rule(query, key, value, a, b, A_log, dt_bias, state,
                               use_qk_l2norm_in_kernel=False):
    B, S, Hk, Dk = key.shape
    Hv, Dv = value.shape[2:]
    inv_scale = Dk**-0.5
    if use_qk_l2norm_in_kernel:
        query = (inv_scale**2) * mx.fast.rms_norm(query, None, 1e-6)
        key = inv_scale * mx.fast.rms_norm(key, None, 1e-6)
    else:
        query = inv_scale * query

    input_type = query.dtype
    if (repeat_factor := Hv // Hk) > 1:
        query = mx.repeat(query, repeat_factor, 2)
        key = mx.repeat(key, repeat_factor, 2)

    beta = mx.sigmoid(b)
    g = compute_g(A_log, a, dt_bias)
    outs = []
    for i in range(S):
        state *= g[:, i, :, None, None]
        kv_mem = (state * key[:, i, :, :, None]).sum(axis=-2)
        delta = (value[:, i] - kv_mem) * beta[:, i, :, None]
        state += key[:, i, :, :, None] * delta[..., None, :]
        out = (state * query[:, i, :, :, None]).sum(axis=-2)
        outs.append(out)
    out = mx.stack(outs, axis=1).astype(input_type)
    return out, state


class RMSNormGated(nn.Module):
    def __init__(self, dims, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = mx.ones(dims)

    def __call__(self, x, gate=None):
        x = mx.fast.rms_norm(x, self.weight, self.eps)
        if gate is not None:
            x = x * nn.silu(gate)
        return x


class GatedDeltaNet(nn.Module):
    def __init__(self, hidden, nk=2, nv=4, dk=16, dv=16, kernel=4):
        super().__init__()
        self.nk, self.nv, self.dk, self.dv = nk, nv, dk, dv
        self.key_dim = nk * dk
        self.value_dim = nv * dv
        self.kernel = kernel
        self.conv_dim = self.key_dim * 2 + self.value_dim
        self.conv1d = nn.Conv1d(self.conv_dim, self.conv_dim, kernel_size=kernel,
                                groups=self.conv_dim, bias=False, padding=0)
        self.in_proj_qkvz = nn.Linear(hidden, self.key_dim * 2 + self.value_dim * 2, bias=False)
        self.in_proj_ba = nn.Linear(hidden, nv * 2, bias=False)
        self.dt_bias = mx.ones(nv)
        A = mx.random.uniform(low=0, high=16, shape=(nv,))
        self.A_log = mx.log(A)
        self.norm = RMSNormGated(dv)
        self.out_proj = nn.Linear(self.value_dim, hidden, bias=False)

    def split_heads(self, qkvz, ba):
        nk, dn, nv, dv = self.nk, self.dk, self.nv, self.dv
        qkvz = qkvz.reshape(*qkvz.shape[:-1], nk, -1)
        ba = ba.reshape(*ba.shape[:-1], nk, -1)
        q, k, v, z = mx.split(qkvz, [dn, 2 * dn, 2 * dn + nv // nk * dv], axis=-1)
        b, a = mx.split(ba, [nv // nk], axis=-1)
        return (q, k, v.reshape(*v.shape[:2], -1, dv), z.reshape(*z.shape[:2], -1, dv),
                b.reshape(*b.shape[:2], nv), a.reshape(*a.shape[:2], nv))

    def __call__(self, x):
        B, S, _ = x.shape
        q, k, v, z, b, a = self.split_heads(self.in_proj_qkvz(x), self.in_proj_ba(x))
        conv_state = mx.zeros((B, self.kernel - 1, self.conv_dim), dtype=x.dtype)
        mixed = mx.concatenate([q.reshape(B, S, -1), k.reshape(B, S, -1), v.reshape(B, S, -1)], axis=-1)
        conv_out = nn.silu(self.conv1d(mx.concatenate([conv_state, mixed], axis=1)))
        q, k, v = [
            t.reshape(B, S, h, d)
            for t, h, d in zip(mx.split(conv_out, [self.key_dim, 2 * self.key_dim], -1),
                               [self.nk, self.nk, self.nv], [self.dk, self.dk, self.dv])
        ]
        state = mx.zeros((B, self.nv, self.dk, self.dv), dtype=x.dtype)
        out, _ = recurrent_gated_delta_rule(q, k, v, a, b, self.A_log, self.dt_bias, state,
                                            use_qk_l2norm_in_kernel=True)
        out = self.norm(out, z)
        return self.out_proj(out.reshape(B, S, -1))


class Block(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.n1 = nn.RMSNorm(hidden)
        self.mixer = GatedDeltaNet(hidden)
        self.n2 = nn.RMSNorm(hidden)
        self.mlp = nn.Sequential(nn.Linear(hidden, 2 * hidden), nn.SiLU(), nn.Linear(2 * hidden, hidden))

    def __call__(self, x):
        x = x + self.mixer(self.n1(x))
        return x + self.mlp(self.n2(x))


class TideModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, HIDDEN)
        self.blocks = [Block(HIDDEN)]
        self.norm = nn.RMSNorm(HIDDEN)
        self.head = nn.Linear(HIDDEN, N_OUT)

    def __call__(self, tokens):
        h = self.embed(tokens)
        for blk in self.blocks:
            h = blk(h)
        return self.head(self.norm(h))


def make_batch(rng, n):
    toks = rng.integers(0, 8, size=(n, SEQ))
    toks = np.where(rng.random((n, SEQ)) < 0.12, 8, toks)
    tgt = np.zeros((n, SEQ), dtype=np.int64)
    seen = np.zeros((n, 8), dtype=bool)
    rows = np.arange(n)
    for t in range(SEQ):
        tok = toks[:, t]
        page = tok == 8
        seen[page] = False
        item = np.minimum(tok, 7)
        hit = seen[rows, item] & ~page
        tgt[:, t] = hit
        seen[rows[~page], item[~page]] = True
    return mx.array(toks), mx.array(tgt)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def main():
    mx.random.seed(SEED)
    rng = np.random.default_rng(SEED)
    model = TideModel()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=3e-3)
    step_fn = nn.value_and_grad(model, loss_fn)
    state = [model.state, opt.state]

    def train_step(x, y):
        loss, grads = step_fn(model, x, y)
        opt.update(model, grads)
        return loss

    def val_acc(x, y):
        return (mx.argmax(model(x), axis=-1) == y).astype(mx.float32).mean()

    vx, vy = make_batch(np.random.default_rng(999), 256)
    base = 1.0 - vy.astype(mx.float32).mean().item()
    print(f"val majority-class baseline {base:.3f}")

    t0 = time.time()
    for step in range(1, STEPS + 1):
        x, y = make_batch(rng, BATCH)
        loss = train_step(x, y)
        mx.eval(state, loss)
        if step % 10 == 0 or step == 1:
            acc = val_acc(vx, vy).item()
            print(f"step {step:4d}  loss {loss.item():.4f}  val_acc {acc:.3f}  ({time.time() - t0:.1f}s)")
    acc = val_acc(vx, vy).item()
    print(f"final val_acc {acc:.3f}")


if __name__ == "__main__":
    main()
