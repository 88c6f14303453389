# Tiny LongCat-style MoE language model (routed experts + zero-computation
# "identity" experts) trained on synthetic lock-keeper logbook tokens, then an
# export parity check of every MoE block against a plain numpy reference.
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SEED = 7
VOCAB = 48
SEQ = 24
BATCH = 32
HIDDEN = 48
EXPERT_HIDDEN = 64
N_ROUTED = 4
ZERO_EXPERTS = 2
TOPK = 2
SCALING = 1.0
LAYERS = 2
STEPS = 100

np.random.seed(SEED)
mx.random.seed(SEED)

# synthetic logbook: a sparse first-order Markov chain over 48 symbols
trans = np.random.dirichlet(np.full(VOCAB, 0.08), size=VOCAB)


def sample_batch(n):
    out = np.zeros((n, SEQ + 1), dtype=np.int32)
    out[:, 0] = np.random.randint(0, VOCAB, size=n)
    for t in range(1, SEQ + 1):
        p = trans[out[:, t - 1]]
        c = p.cumsum(axis=1)
        r = np.random.rand(n, 1)
        out[:, t] = (r > c).sum(axis=1).clip(0, VOCAB - 1)
    return mx.array(out)


entropy = -(trans * np.log(trans + 1e-12)).sum(axis=1).mean()


class SwitchGLU(nn.Module):
    def __init__(self, dim, hidden, num_experts):
        super().__init__()
        s = 1.0 / math.sqrt(dim)
        self.gate_proj = mx.random.uniform(-s, s, (num_experts, hidden, dim))
        self.up_proj = mx.random.uniform(-s, s, (num_experts, hidden, dim))
        s2 = 1.0 / math.sqrt(hidden)
        self.down_proj = mx.random.uniform(-s2, s2, (num_experts, dim, hidden))

    def __call__(self, x, indices):
        # x: (B, L, D), indices: (B, L, k) -> (B, L, k, D)
        # few experts: run all of them, then pick the selected slots
        g = mx.einsum("bld,ehd->bleh", x, self.gate_proj)
        u = mx.einsum("bld,ehd->bleh", x, self.up_proj)
        y = mx.einsum("bleh,edh->bled", nn.silu(g) * u, self.down_proj)
        return mx.take_along_axis(y, indices[..., None], axis=2)


class TopkRouter(nn.Module):
    def __init__(self):
        super().__init__()
        self.top_k = TOPK
        self.n_routed_experts = N_ROUTED + ZERO_EXPERTS
        self.routed_scaling_factor = SCALING
        self.classifier = nn.Linear(HIDDEN, self.n_routed_experts, bias=False)
        self.e_score_correction_bias = mx.zeros((self.n_routed_experts,))

    def __call__(self, hidden_states):
        router_logits = self.classifier(hidden_states)
        scores = mx.softmax(router_logits, axis=-1)
        corrected_scores = scores + self.e_score_correction_bias
        topk_indices = mx.stop_gradient(
            mx.argpartition(corrected_scores, kth=-self.top_k, axis=-1)[..., -self.top_k :]
        )
        topk_weights = mx.take_along_axis(scores, topk_indices, axis=-1)
        topk_weights = topk_weights * self.routed_scaling_factor
        return topk_indices, topk_weights


class MoE(nn.Module):
    def __init__(self):
        super().__init__()
        self.n_routed_experts = N_ROUTED
        self.switch_mlp = SwitchGLU(HIDDEN, EXPERT_HIDDEN, N_ROUTED)
        self.router = TopkRouter()

    def __call__(self, hidden_states):
        topk_indices, topk_weights = self.router(hidden_states)

        # Process all regular experts at once
        mask = topk_indices >= self.n_routed_experts
        topk_indices = mx.where(mask, 0, topk_indices)
        regular_weights = mx.where(mask, 0.0, topk_weights)

        regular_outputs = self.switch_mlp(hidden_states, topk_indices)

        weighted_outputs = regular_outputs * topk_weights[..., None]

        # identity (zero-computation) experts
        identity_weights = mx.where(mask, topk_weights, 0.0)
        identity_outputs = hidden_states[..., None, :] * identity_weights[..., None]
        weighted_outputs = weighted_outputs + identity_outputs

        return mx.sum(weighted_outputs, axis=-2)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.n1 = nn.RMSNorm(HIDDEN)
        self.attn = nn.MultiHeadAttention(HIDDEN, 4)
        self.n2 = nn.RMSNorm(HIDDEN)
        self.moe = MoE()

    def __call__(self, x, mask):
        h = self.n1(x)
        x = x + self.attn(h, h, h, mask)
        return x + self.moe(self.n2(x))


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, HIDDEN)
        self.pos = mx.random.normal((SEQ, HIDDEN)) * 0.02
        self.blocks = [Block() for _ in range(LAYERS)]
        self.norm = nn.RMSNorm(HIDDEN)
        self.head = nn.Linear(HIDDEN, VOCAB, bias=False)

    def __call__(self, tokens, capture=None):
        L = tokens.shape[1]
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        x = self.emb(tokens) + self.pos[:L]
        for b in self.blocks:
            if capture is not None:
                h = x + b.attn(b.n1(x), b.n1(x), b.n1(x), mask)
                capture.append(b.n2(h))
            x = b(x, mask)
        return self.head(self.norm(x))


def loss_fn(model, batch):
    logits = model(batch[:, :-1])
    return nn.losses.cross_entropy(logits, batch[:, 1:], reduction="mean")


def moe_reference(moe, h):
    """Plain per-token numpy reference of the routed + identity expert block."""
    x = np.array(h, dtype=np.float64).reshape(-1, HIDDEN)
    wc = np.array(moe.router.classifier.weight, dtype=np.float64)
    gw = np.array(moe.switch_mlp.gate_proj, dtype=np.float64)
    uw = np.array(moe.switch_mlp.up_proj, dtype=np.float64)
    dw = np.array(moe.switch_mlp.down_proj, dtype=np.float64)
    out = np.zeros_like(x)
    for i, xi in enumerate(x):
        logits = wc @ xi
        p = np.exp(logits - logits.max())
        p /= p.sum()
        top = np.argsort(-p, kind="stable")[:TOPK]
        for e in top:
            w = p[e] * SCALING
            if e >= N_ROUTED:
                out[i] += w * xi
            else:
                g = gw[e] @ xi
                u = uw[e] @ xi
                a = g / (1.0 + np.exp(-g)) * u
                out[i] += w * (dw[e] @ a)
    return out.reshape(np.array(h).shape)


model = TinyLM()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.01)
step_fn = nn.value_and_grad(model, loss_fn)
val = sample_batch(256)
print(f"params={sum(v.size for _, v in nn.utils.tree_flatten(model.parameters()))} "
      f"chain entropy={entropy:.3f} nats, uniform={math.log(VOCAB):.3f}")

t0 = time.time()
for step in range(1, STEPS + 1):
    batch = sample_batch(BATCH)
    loss, grads = step_fn(model, batch)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 25 == 0 or step == 1:
        vloss = loss_fn(model, val).item()
        print(f"step {step:4d}  train {loss.item():.4f}  val {vloss:.4f}  ({time.time() - t0:.1f}s)")

# export parity: each MoE block against the numpy reference
probe = val[:8, :-1]
caps = []
model(probe, capture=caps)
for li, (blk, h) in enumerate(zip(model.blocks, caps)):
    mlx_out = np.array(blk.moe(h), dtype=np.float64)
    ref_out = moe_reference(blk.moe, h)
    diff = np.abs(mlx_out - ref_out).max()
    rel = diff / (np.abs(ref_out).max() + 1e-12)
    inds, _ = blk.moe.router(h)
    zshare = float((np.array(inds) >= N_ROUTED).mean())
    print(f"parity layer {li}: max|mlx-ref|={diff:.2e} rel={rel:.2e} identity-slot share={zshare:.2f}")
print(f"final val {loss_fn(model, val).item():.4f} (chain entropy {entropy:.3f})")
