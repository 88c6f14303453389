"""
Tiny GPT pretraining on Apple Silicon MLX with a hand-rolled MuonAdamW.
Muon (Newton-Schulz / Polar Express) for 2D block matrices, AdamW for
embeddings, value embeddings, lm_head and per-layer scalars.
Data: synthetic token stream from a static sparse Markov chain.
"""
import math
import time
from dataclasses import dataclass

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx.utils import tree_flatten

# ---------------------------------------------------------------------------
# Polar Express coefficients (Newton-Schulz orthogonalization)
# ---------------------------------------------------------------------------

POLAR_EXPRESS_COEFFS = [
    (8.156554524902461, -22.48329292557795, 15.878769915207462),
    (4.042929935166739, -2.808917465908714, 0.5000178451051316),
    (3.8916678022926607, -2.772484153217685, 0.5060648178503393),
    (3.285753657755655, -2.3681294933425376, 0.46449024233003106),
    (2.3465413258596377, -1.7097828382687081, 0.42323551169305323),
]


def newton_schulz_orthogonalize(X, ns_steps=5):
    """
    Polar express: approximate the orthogonal polar factor of X
    using Newton-Schulz iterations with precomputed optimal coefficients.
    """
    X = X.astype(mx.bfloat16)
    norms = mx.sqrt((X * X).sum(axis=(-2, -1), keepdims=True))
    X = X / (norms * 1.02 + 1e-6)

    M, N = X.shape[-2], X.shape[-1]
    if M > N:
        for a, b, c in POLAR_EXPRESS_COEFFS[:ns_steps]:
            Xt = mx.swapaxes(X, -2, -1)
            A = Xt @ X
            B = b * A + c * (A @ A)
            X = a * X + X @ B
    else:
        for a, b, c in POLAR_EXPRESS_COEFFS[:ns_steps]:
            Xt = mx.swapaxes(X, -2, -1)
            A = X @ Xt
            B = b * A + c * (A @ A)
            X = a * X + B @ X

    return X


# ---------------------------------------------------------------------------
# Helper to set a nested parameter by path
# ---------------------------------------------------------------------------

def _navigate_part(obj, part):
    """Navigate one level into a nested MLX model structure."""
    if part.isdigit():
        # Could be a list index (e.g. blocks.1) or dict key (e.g. value_embeds.1)
        if isinstance(obj, dict):
            return obj[part]  # dict keyed by string
        return obj[int(part)]  # list indexed by int
    return getattr(obj, part)


def _set_param_by_path(model, path, value):
    """Set a parameter in an MLX model by its dot-separated path."""
    parts = path.split(".")
    obj = model
    for part in parts[:-1]:
        obj = _navigate_part(obj, part)
    last = parts[-1]
    if last.isdigit():
        if isinstance(obj, dict):
            obj[last] = value
        else:
            obj[int(last)] = value
    else:
        setattr(obj, last, value)


def _get_param_by_path(model, path):
    """Get a parameter from an MLX model by its dot-separated path."""
    parts = path.split(".")
    obj = model
    for part in parts:
        obj = _navigate_part(obj, part)
    return obj


# ---------------------------------------------------------------------------
# MuonAdamW for MLX
# ---------------------------------------------------------------------------

class MuonAdamWMLX:
    """Combined optimizer: Muon for 2D matrix params, AdamW for others."""

    def __init__(self, param_groups):
        self.param_groups = param_groups
        self.state = {}
        self._step_count = 0
        for group in self.param_groups:
            group["initial_lr"] = group["lr"]

    def _step_adamw(self, path, grad, param, group):
        grad_f32 = grad.astype(mx.float32)
        param_f32 = param.astype(mx.float32)
        lr = group['lr']
        beta1, beta2 = group['betas']
        eps = group['eps']
        wd = group['weight_decay']

        state = self.state.setdefault(path, {
            'm': mx.zeros_like(grad_f32),
            'v': mx.zeros_like(grad_f32),
            't': 0,
        })
        state['t'] += 1
        t = state['t']

        state['m'] = beta1 * state['m'] + (1 - beta1) * grad_f32
        state['v'] = beta2 * state['v'] + (1 - beta2) * (grad_f32 * grad_f32)

        bias1 = 1 - beta1 ** t
        bias2 = 1 - beta2 ** t
        denom = mx.sqrt(state['v'] / bias2) + eps
        step_size = lr / bias1

        param_f32 = param_f32 * (1 - lr * wd)
        param_f32 = param_f32 - step_size * (state['m'] / denom)
        return param_f32.astype(param.dtype)

    def _step_muon(self, stacked_grads, stacked_params, group):
        momentum_val = group['momentum']
        lr = group['lr']
        wd = group['weight_decay']
        beta2 = group.get('beta2', 0.95)
        ns_steps = group.get('ns_steps', 5)
        group_id = group['_group_id']

        shape = stacked_grads.shape
        M, N = shape[-2], shape[-1]
        red_dim = -1 if M >= N else -2

        state = self.state.setdefault(group_id, {})
        if 'momentum_buffer' not in state:
            state['momentum_buffer'] = mx.zeros_like(stacked_grads)
        if 'second_momentum_buffer' not in state:
            if M >= N:
                smb_shape = list(shape[:-1]) + [1]
            else:
                smb_shape = list(shape[:-2]) + [1, N]
            state['second_momentum_buffer'] = mx.zeros(smb_shape, dtype=mx.float32)

        # Nesterov momentum
        momentum = mx.array(momentum_val, dtype=stacked_grads.dtype)
        state['momentum_buffer'] = momentum * state['momentum_buffer'] + (1 - momentum) * stacked_grads
        g = (1 - momentum) * stacked_grads + momentum * state['momentum_buffer']

        # Polar express orthogonalization
        g = newton_schulz_orthogonalize(g, ns_steps)

        # NorMuon variance reduction
        g_f32 = g.astype(mx.float32)
        beta2_f32 = mx.array(beta2, dtype=mx.float32)
        v_mean = (g_f32 ** 2).mean(axis=red_dim, keepdims=True)
        red_dim_size = g.shape[red_dim]
        v_norm_sq = v_mean.sum(axis=(-2, -1), keepdims=True) * red_dim_size
        v_norm = mx.sqrt(v_norm_sq)

        smb_f32 = state['second_momentum_buffer']
        smb_f32 = smb_f32 + (1 - beta2_f32) * (v_mean - smb_f32)
        state['second_momentum_buffer'] = smb_f32

        step_size = mx.rsqrt(mx.maximum(smb_f32, mx.array(1e-10)))
        scaled_sq_sum = (v_mean * red_dim_size) * (step_size ** 2)
        v_norm_new = mx.sqrt(scaled_sq_sum.sum(axis=(-2, -1), keepdims=True))
        final_scale = step_size * (v_norm / mx.maximum(v_norm_new, mx.array(1e-10)))
        g = (g_f32 * final_scale).astype(stacked_params.dtype)

        # Cautious weight decay + parameter update
        lr_val = mx.array(lr, dtype=g.dtype)
        wd_val = mx.array(wd, dtype=g.dtype)
        mask = (g * stacked_params) >= 0
        updated = stacked_params - lr_val * g - lr_val * wd_val * stacked_params * mask
        return updated

    def update(self, model, grads):
        self._step_count += 1
        flat_grads = dict(tree_flatten(grads))
        flat_params = dict(tree_flatten(model.parameters()))

        for group in self.param_groups:
            if group['kind'] != 'adamw':
                continue
            for path in group['paths']:
                if path not in flat_grads:
                    continue
                new_param = self._step_adamw(path, flat_grads[path], flat_params[path], group)
                _set_param_by_path(model, path, new_param)

        for group in self.param_groups:
            if group['kind'] != 'muon':
                continue
            paths = group['paths']
            grads_list = [flat_grads[p] for p in paths if p in flat_grads]
            params_list = [flat_params[p] for p in paths if p in flat_grads]
            if not grads_list:
                continue
            stacked_g = mx.stack(grads_list)
            stacked_p = mx.stack(params_list)
            shape = params_list[0].shape
            group['lr'] = group['lr'] * max(1.0, shape[-2] / shape[-1]) ** 0.5
            updated = self._step_muon(stacked_g, stacked_p, group)
            active_paths = [p for p in paths if p in flat_grads]
            for i, path in enumerate(active_paths):
                _set_param_by_path(model, path, updated[i])

    def state_arrays(self):
        out = []
        for s in self.state.values():
            out.extend(v for v in s.values() if isinstance(v, mx.array))
        return out


def build_param_groups(model, cfg):
    flat_params = dict(tree_flatten(model.parameters()))
    dmodel_lr_scale = (cfg['model_dim'] / 768) ** -0.5
    embedding_paths, value_embed_paths, lm_head_paths = [], [], []
    resid_paths, x0_paths = [], []
    matrix_paths_by_shape = {}
    for path, param in flat_params.items():
        if 'wte' in path and 'weight' in path:
            embedding_paths.append(path)
        elif 'value_embeds' in path:
            value_embed_paths.append(path)
        elif 'lm_head' in path:
            lm_head_paths.append(path)
        elif 'resid_lambdas' in path:
            resid_paths.append(path)
        elif 'x0_lambdas' in path:
            x0_paths.append(path)
        elif param.ndim == 2:
            matrix_paths_by_shape.setdefault(param.shape, []).append(path)

    betas = cfg['adam_betas']
    groups = []
    groups.append(dict(kind='adamw', paths=lm_head_paths, lr=cfg['unembedding_lr'] * dmodel_lr_scale,
                       betas=betas, eps=1e-10, weight_decay=0.0))
    groups.append(dict(kind='adamw', paths=embedding_paths, lr=cfg['embedding_lr'] * dmodel_lr_scale,
                       betas=betas, eps=1e-10, weight_decay=0.0))
    groups.append(dict(kind='adamw', paths=value_embed_paths, lr=cfg['embedding_lr'] * dmodel_lr_scale,
                       betas=betas, eps=1e-10, weight_decay=0.0))
    groups.append(dict(kind='adamw', paths=resid_paths, lr=cfg['scalar_lr'] * 0.01,
                       betas=betas, eps=1e-10, weight_decay=0.0))
    groups.append(dict(kind='adamw', paths=x0_paths, lr=cfg['scalar_lr'],
                       betas=(0.96, 0.95), eps=1e-10, weight_decay=0.0))
    for i, (shape, paths) in enumerate(sorted(matrix_paths_by_shape.items())):
        groups.append(dict(kind='muon', paths=paths, lr=cfg['matrix_lr'], momentum=0.95,
                           ns_steps=5, beta2=0.95, weight_decay=cfg['weight_decay'],
                           _group_id=f'muon_shape_{i}_{shape[0]}x{shape[1]}'))
    for i, g in enumerate(groups):
        g.setdefault('_group_id', f'adamw_{i}')
    return groups


# ---------------------------------------------------------------------------
# GPT model
# ---------------------------------------------------------------------------

@dataclass
class GPTConfig:
    sequence_len: int = 32
    vocab_size: int = 64
    n_layer: int = 2
    n_head: int = 2
    n_kv_head: int = 2
    n_embd: int = 64


def norm(x):
    return x * mx.rsqrt(mx.mean(x * x, axis=-1, keepdims=True) + 1e-5)


def has_ve(layer_idx, n_layer):
    return layer_idx % 2 == (n_layer - 1) % 2


def create_causal_mask(seq_len, dtype=mx.float32):
    indices = mx.arange(seq_len)
    blocked = indices[None, :] > indices[:, None]
    return mx.where(blocked, mx.array(float("-inf"), dtype=dtype), mx.array(0.0, dtype=dtype))


class RotaryEmbedding:
    def __init__(self, head_dim, max_seq_len, base=10000):
        inv_freq = 1.0 / (base ** (mx.arange(0, head_dim, 2, dtype=mx.float32) / head_dim))
        freqs = mx.outer(mx.arange(max_seq_len, dtype=mx.float32), inv_freq)
        self.cos, self.sin = freqs.cos(), freqs.sin()

    def apply(self, x):
        T = x.shape[1]
        cos = self.cos[:T][None, :, None, :]
        sin = self.sin[:T][None, :, None, :]
        d = x.shape[-1] // 2
        x1, x2 = x[..., :d], x[..., d:]
        return mx.concatenate([x1 * cos + x2 * sin, x1 * (-sin) + x2 * cos], axis=-1)


class CausalSelfAttention(nn.Module):
    def __init__(self, config, layer_idx):
        super().__init__()
        self.n_head = config.n_head
        self.n_kv_head = config.n_kv_head
        self.head_dim = config.n_embd // config.n_head
        self.c_q = nn.Linear(config.n_embd, self.n_head * self.head_dim, bias=False)
        self.c_k = nn.Linear(config.n_embd, self.n_kv_head * self.head_dim, bias=False)
        self.c_v = nn.Linear(config.n_embd, self.n_kv_head * self.head_dim, bias=False)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=False)
        self.ve_gate_channels = 32
        self.has_ve = has_ve(layer_idx, config.n_layer)
        if self.has_ve:
            self.ve_gate = nn.Linear(self.ve_gate_channels, self.n_kv_head, bias=False)

    def __call__(self, x, ve, rotary, mask):
        B, T, C = x.shape
        q = self.c_q(x).reshape(B, T, self.n_head, self.head_dim)
        k = self.c_k(x).reshape(B, T, self.n_kv_head, self.head_dim)
        v = self.c_v(x).reshape(B, T, self.n_kv_head, self.head_dim)
        if ve is not None and self.has_ve:
            ve = ve.reshape(B, T, self.n_kv_head, self.head_dim)
            gate = 2 * mx.sigmoid(self.ve_gate(x[..., :self.ve_gate_channels]))
            v = v + mx.expand_dims(gate, axis=-1) * ve
        q, k = norm(rotary.apply(q)), norm(rotary.apply(k))
        q, k, v = (mx.swapaxes(t, 1, 2) for t in (q, k, v))
        scores = (q @ mx.swapaxes(k, -2, -1)) * (1.0 / math.sqrt(self.head_dim)) + mask
        y = mx.softmax(scores, axis=-1) @ v
        return self.c_proj(mx.swapaxes(y, 1, 2).reshape(B, T, -1))


class MLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=False)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=False)

    def __call__(self, x):
        return self.c_proj(mx.maximum(self.c_fc(x), 0) ** 2)


class Block(nn.Module):
    def __init__(self, config, layer_idx):
        super().__init__()
        self.attn = CausalSelfAttention(config, layer_idx)
        self.mlp = MLP(config)

    def __call__(self, x, ve, rotary, mask):
        x = x + self.attn(norm(x), ve, rotary, mask)
        return x + self.mlp(norm(x))


class GPT(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.blocks = [Block(config, i) for i in range(config.n_layer)]
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.resid_lambdas = mx.ones(config.n_layer)
        self.x0_lambdas = mx.zeros(config.n_layer)
        head_dim = config.n_embd // config.n_head
        kv_dim = config.n_kv_head * head_dim
        self.value_embeds = {}
        for i in range(config.n_layer):
            if has_ve(i, config.n_layer):
                self.value_embeds[str(i)] = nn.Embedding(config.vocab_size, kv_dim)
        self.rotary = RotaryEmbedding(head_dim, config.sequence_len * 2)
        self._mask = create_causal_mask(config.sequence_len)

    def init_weights(self):
        s = 3 ** 0.5 * self.config.n_embd ** -0.5
        self.wte.weight = mx.random.normal(self.wte.weight.shape)
        self.lm_head.weight = mx.random.normal(self.lm_head.weight.shape) * 0.001
        for block in self.blocks:
            for lin in (block.attn.c_q, block.attn.c_k, block.attn.c_v, block.mlp.c_fc):
                lin.weight = mx.random.uniform(-s, s, lin.weight.shape)
            block.attn.c_proj.weight = mx.zeros_like(block.attn.c_proj.weight)
            block.mlp.c_proj.weight = mx.zeros_like(block.mlp.c_proj.weight)
            if block.attn.has_ve:
                block.attn.ve_gate.weight = mx.zeros_like(block.attn.ve_gate.weight)
        self.resid_lambdas = mx.ones(self.config.n_layer)
        self.x0_lambdas = mx.full(self.config.n_layer, 0.1)
        for ve in self.value_embeds.values():
            ve.weight = mx.random.uniform(-s, s, ve.weight.shape)

    def __call__(self, idx, targets):
        x = norm(self.wte(idx))
        x0 = x
        for i, block in enumerate(self.blocks):
            x = self.resid_lambdas[i] * x + self.x0_lambdas[i] * x0
            ve_key = str(i)
            ve = self.value_embeds[ve_key](idx) if ve_key in self.value_embeds else None
            x = block(x, ve, self.rotary, self._mask)
        logits = self.lm_head(norm(x))
        logits = 15 * mx.tanh(logits / 15)
        return nn.losses.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction='mean')


# ---------------------------------------------------------------------------
# Data: sparse Markov chain (each token has 2 possible successors)
# ---------------------------------------------------------------------------

config = GPTConfig()
rng = np.random.default_rng(7)
succ = rng.integers(0, config.vocab_size, size=(config.vocab_size, 2))


def sample_batch(batch_size):
    T = config.sequence_len + 1
    seq = np.empty((batch_size, T), dtype=np.int32)
    seq[:, 0] = rng.integers(0, config.vocab_size, size=batch_size)
    for t in range(1, T):
        pick = rng.integers(0, 2, size=batch_size)
        seq[:, t] = succ[seq[:, t - 1], pick]
    return mx.array(seq[:, :-1]), mx.array(seq[:, 1:])


# ---------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------

mx.random.seed(0)
model = GPT(config)
model.init_weights()
mx.eval(model.parameters())
nparams = sum(p.size for _, p in tree_flatten(model.parameters()))
print(f"params: {nparams:,}  value_embeds: {list(model.value_embeds.keys())}")

param_groups = build_param_groups(model, {
    'model_dim': config.n_embd,
    'matrix_lr': 0.02,
    'embedding_lr': 0.1,
    'unembedding_lr': 0.004,
    'scalar_lr': 0.05,
    'adam_betas': (0.8, 0.95),
    'weight_decay': 0.0,
})
optimizer = MuonAdamWMLX(param_groups)
for g in param_groups:
    print(f"  group {g['_group_id']:<22s} kind={g['kind']:<5s} n={len(g['paths'])} lr={g['lr']:.4g}")

loss_grad_fn = nn.value_and_grad(model, lambda m, x, y: m(x, y))
x_val, y_val = sample_batch(64)
print(f"uniform baseline loss {math.log(config.vocab_size):.3f}, entropy floor {math.log(2):.3f}")

STEPS = 60
t_start = time.time()
smooth = 0.0
for step in range(STEPS):
    t0 = time.time()
    x, y = sample_batch(16)
    loss, grads = loss_grad_fn(model, x, y)
    for group in optimizer.param_groups:
        group['lr'] = group['initial_lr']
        if group['kind'] == 'muon':
            group['momentum'] = 0.85 + 0.10 * min(step / 100, 1)
    optimizer.update(model, grads)
    mx.eval(model.parameters(), loss, *optimizer.state_arrays())
    loss_f = loss.item()
    smooth = 0.9 * smooth + 0.1 * loss_f
    debiased = smooth / (1 - 0.9 ** (step + 1))
    if step % 10 == 0 or step == STEPS - 1:
        dt = (time.time() - t0) * 1000
        print(f"step {step:05d} | loss: {debiased:.4f} | dt: {dt:.0f}ms")

val = model(x_val, y_val).item()
print(f"val_loss: {val:.4f}")
print(f"training_seconds: {time.time() - t_start:.1f}")
