"""Tiny MiniLLM-style causal LM fine-tuned with LoRA adapters (mlx_train layout).

Base weights are frozen; LoRA adapters are injected into the attention / MLP
projections named in --lora_targets, then trained with AdamW on a synthetic
"lantern code" corpus (next token = affine map of the current token).
"""
import math
import time
from dataclasses import dataclass
from typing import List, Set, Tuple

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten


@dataclass(frozen=True)
class LoRAConfig:
    r: int
    alpha: float = 16.0
    dropout: float = 0.0
    target_modules: Tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")


class LoRALinear(nn.Module):
    def __init__(self, base, *, r, alpha, in_features, out_features):
        super().__init__()
        self.base = base
        self.base.freeze(recurse=True)
        self.scaling = float(alpha) / float(r)
        self.lora_A = nn.Linear(in_features, r, bias=False)
        self.lora_B = nn.Linear(r, out_features, bias=False)
        self.lora_B.weight = mx.zeros_like(self.lora_B.weight)

    @classmethod
    def from_linear(cls, linear, *, r, alpha):
        out_f, in_f = linear.weight.shape
        return cls(linear, r=r, alpha=alpha, in_features=in_f, out_features=out_f)

    def __call__(self, x):
        return self.base(x) + self.scaling * self.lora_B(self.lora_A(x))


def _get_parent_by_path(root, path):
    parent = root
    for p in path[:-1]:
        parent = parent[int(p)] if isinstance(parent, list) else getattr(parent, p)
    return parent, path[-1]


def apply_lora(model: nn.Module, *, cfg: LoRAConfig) -> int:
    """Replace target nn.Linear modules (matched on the last name component)."""
    if cfg.r <= 0:
        return 0
    targets: Set[str] = {t.split(".")[-1] for t in cfg.target_modules if t}
    to_replace: List[Tuple[str, nn.Linear]] = []
    for name, mod in model.named_modules():
        if not isinstance(mod, nn.Linear):
            continue
        leaf = name.split(".")[-1] if name else ""
        if leaf in targets:
            to_replace.append((name, mod))
    for name, mod in to_replace:
        parent, leaf = _get_parent_by_path(model, name.split("."))
        setattr(parent, leaf, LoRALinear.from_linear(mod, r=cfg.r, alpha=cfg.alpha))
    return len(to_replace)


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.q_proj = nn.Linear(dim, dim, bias=False)
        self.k_proj = nn.Linear(dim, dim, bias=False)
        self.v_proj = nn.Linear(dim, dim, bias=False)
        self.o_proj = nn.Linear(dim, dim, bias=False)

    def __call__(self, x, mask):
        B, L, D = x.shape
        h = self.heads
        q = self.q_proj(x).reshape(B, L, h, -1).transpose(0, 2, 1, 3)
        k = self.k_proj(x).reshape(B, L, h, -1).transpose(0, 2, 1, 3)
        v = self.v_proj(x).reshape(B, L, h, -1).transpose(0, 2, 1, 3)
        o = mx.fast.scaled_dot_product_attention(q, k, v, scale=1.0 / math.sqrt(D // h), mask=mask)
        return self.o_proj(o.transpose(0, 2, 1, 3).reshape(B, L, D))


class MLP(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.gate_proj = nn.Linear(dim, hidden, bias=False)
        self.up_proj = nn.Linear(dim, hidden, bias=False)
        self.down_proj = nn.Linear(hidden, dim, bias=False)

    def __call__(self, x):
        return self.down_proj(nn.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.input_layernorm = nn.RMSNorm(dim)
        self.self_attn = Attention(dim, heads)
        self.post_attention_layernorm = nn.RMSNorm(dim)
        self.mlp = MLP(dim, 2 * dim)

    def __call__(self, x, mask):
        x = x + self.self_attn(self.input_layernorm(x), mask)
        return x + self.mlp(self.post_attention_layernorm(x))


class MiniLLM(nn.Module):
    def __init__(self, vocab, dim, heads, n_layers, lora_r, lora_targets):
        super().__init__()
        self.embed_tokens = nn.Embedding(vocab, dim)
        self.layers = [Block(dim, heads) for _ in range(n_layers)]
        self.norm = nn.RMSNorm(dim)
        if lora_r > 0:
            self.freeze(recurse=True)
            targets = tuple(t.strip() for t in lora_targets.split(",") if t.strip())
            self.n_lora = apply_lora(self, cfg=LoRAConfig(r=lora_r, alpha=2.0 * lora_r, target_modules=targets))

    def __call__(self, ids):
        L = ids.shape[1]
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        h = self.embed_tokens(ids)
        for blk in self.layers:
            h = blk(h, mask)
        return self.norm(h) @ self.embed_tokens.weight.T


VOCAB, SEQ, BATCH, STEPS = 24, 16, 32, 240


def make_batch(key):
    k1, k2 = mx.random.split(key)
    start = mx.random.randint(0, VOCAB, (BATCH, 1), key=k1)
    mult = mx.random.randint(0, 2, (BATCH, 1), key=k2) * 2 + 5  # 5 or 7
    cols = [start]
    for _ in range(SEQ):
        cols.append((cols[-1] * mult + 3) % VOCAB)
    return mx.concatenate(cols, axis=1)


def loss_fn(model, ids):
    logits = model(ids[:, :-1])
    return nn.losses.cross_entropy(logits, ids[:, 1:], reduction="mean")


def main():
    mx.random.seed(11)
    model = MiniLLM(VOCAB, 64, 4, 2, lora_r=8,
                    lora_targets="self_attn.q_proj,self_attn.v_proj,self_attn.o_proj,mlp.up_proj,mlp.down_proj")
    n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
    n_tr = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    print(f"[model] params={n_all / 1e3:.1f}K (trainable={n_tr / 1e3:.2f}K) lora_modules={model.n_lora}")

    sched = optim.join_schedules([optim.linear_schedule(1e-4, 3e-3, 20), optim.cosine_decay(3e-3, STEPS - 20, 3e-4)], [20])
    opt = optim.AdamW(learning_rate=sched, weight_decay=0.0)
    step_fn = nn.value_and_grad(model, loss_fn)
    key = mx.random.key(3)
    t0 = time.perf_counter()
    run = 0.0
    for it in range(1, STEPS + 1):
        key, sub = mx.random.split(key)
        ids = make_batch(sub)
        loss, grads = step_fn(model, ids)
        opt.update(model, grads)
        mx.eval(loss, model.parameters(), opt.state)
        run += loss.item()
        if it % 20 == 0:
            dt = time.perf_counter() - t0
            print(f"[train] step {it}/{STEPS} loss={run / 20:.4f} lr={opt.learning_rate.item():.2e} tok/s={it * BATCH * SEQ / dt:.0f}")
            run = 0.0
    key, sub = mx.random.split(key)
    val = loss_fn(model, make_batch(sub)).item()
    print(f"[eval] val_loss={val:.4f} ppl={math.exp(val):.2f}")


if __name__ == "__main__":
    main()
