"""DPO on a tiny ledger-token LM with a LoRA adapter on the token embedding.

The base LM is first trained (SFT) on mixed ledger lines, then DPO with the
adapters teaches it to prefer tidy (ascending) entries over shuffled ones.
The reference policy is the base model, obtained by switching adapters off.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

VOCAB = 40
DIM = 64
PROMPT = 4
COMP = 8
SEED = 7


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, DIM)
        self.pos = nn.Embedding(PROMPT + COMP, DIM)
        self.l1 = nn.Linear(DIM, DIM)
        self.l2 = nn.Linear(DIM, DIM)
        self.head = nn.Linear(DIM, VOCAB)

    def __call__(self, x):
        T = x.shape[1]
        h = self.embed(x) + self.pos(mx.arange(T))
        # causal running mean over positions (keeps the model tiny)
        csum = mx.cumsum(h, axis=1)
        h = csum / mx.arange(1, T + 1)[None, :, None]
        h = h + nn.gelu(self.l1(h))
        h = h + nn.gelu(self.l2(h))
        return self.head(h)


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, r=8, scale=2.0):
        super().__init__()
        out_d, in_d = base.weight.shape
        self.linear = base
        self.lora_a = mx.random.uniform(-1 / math.sqrt(in_d), 1 / math.sqrt(in_d), (in_d, r))
        self.lora_b = mx.zeros((r, out_d))
        self.scale = scale

    def __call__(self, x):
        return self.linear(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


class LoRAEmbedding(nn.Module):
    def __init__(self, base: nn.Embedding, r=8, scale=2.0):
        super().__init__()
        n, d = base.weight.shape
        self.embedding = base
        self.lora_a = mx.random.normal((n, r)) * 0.1
        self.lora_b = mx.zeros((r, d))
        self.scale = scale

    def __call__(self, x):
        return self.embedding(x) + self.scale * (self.lora_a[x] @ self.lora_b)


def attach_lora(model):
    model.freeze()
    model.embed = LoRAEmbedding(model.embed, r=16)
    model.embed.freeze(keys=["embedding"], recurse=True)


def adapter_modules(model):
    return [m for _, m in model.named_modules() if hasattr(m, "lora_a") and hasattr(m, "lora_b")]


rng = np.random.default_rng(SEED)


def make_pair():
    p = rng.integers(1, VOCAB - COMP - 1, size=PROMPT)
    start = int(p[-1])
    chosen = np.arange(start + 1, start + 1 + COMP) % VOCAB
    rejected = rng.permutation(chosen)
    while np.all(rejected == chosen):
        rejected = rng.permutation(chosen)
    return p, chosen, rejected


def pair_batch(n):
    c_rows, r_rows = [], []
    for _ in range(n):
        p, c, r = make_pair()
        c_rows.append(np.concatenate([p, c]))
        r_rows.append(np.concatenate([p, r]))
    return mx.array(np.stack(c_rows + r_rows).astype(np.int32))


def seq_logp(model, batch):
    inputs, targets = batch[:, :-1], batch[:, 1:]
    logits = model(inputs)
    tok = -nn.losses.cross_entropy(logits, targets)
    mask = (mx.arange(targets.shape[1]) >= PROMPT - 1).astype(mx.float32)
    return (tok * mask).sum(axis=1)


def make_dpo_loss(beta, mods):
    if not mods:
        raise ValueError(
            "DPO with a reference needs adapters to switch off; this model has none. "
            "Use a LoRA model or train reference-free."
        )

    def loss_fn(model, batch):
        B = batch.shape[0] // 2
        pol = seq_logp(model, batch)
        saved = [m.scale for m in mods]
        try:
            for m in mods:
                m.scale = 0.0
            ref = mx.stop_gradient(seq_logp(model, batch))
        finally:
            for m, s in zip(mods, saved):
                m.scale = s
        margin = (pol[:B] - ref[:B]) - (pol[B:] - ref[B:])
        loss = -mx.mean(nn.log_sigmoid(beta * margin))
        return loss, (beta * margin)
    return loss_fn


def sft_stage(model, steps=150):
    opt = optim.Adam(learning_rate=3e-3)

    def sft_loss(m, batch):
        logits = m(batch[:, :-1])
        return nn.losses.cross_entropy(logits, batch[:, 1:], reduction="mean")

    vg = nn.value_and_grad(model, sft_loss)
    for it in range(1, steps + 1):
        batch = pair_batch(16)  # both tidy and shuffled lines: no preference yet
        loss, g = vg(model, batch)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
        if it % 50 == 0:
            print(f"[sft] step {it:4d} | loss {loss.item():.4f}")


def main():
    mx.random.seed(SEED)
    t0 = time.time()
    model = TinyLM()
    sft_stage(model)

    attach_lora(model)
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    print(f"trainable adapter params: {n_train}")

    mods = [m for _, m in tree_flatten(model, is_leaf=lambda x: isinstance(x, LoRALinear)) if isinstance(m, LoRALinear)]
    print(f"reference = base with {len(mods)} adapters switched off")
    loss_fn = make_dpo_loss(beta=0.1, mods=mods)
    vg = nn.value_and_grad(model, loss_fn)
    opt = optim.AdamW(learning_rate=1e-3, weight_decay=0.0)

    heldout = pair_batch(256)
    base_probe = None
    for it in range(1, 151):
        batch = pair_batch(16)
        (loss, rew), g = vg(model, batch)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss, rew)
        if it % 15 == 0 or it == 1:
            acc = (rew > 0).astype(mx.float32).mean().item()
            emb_norm = mx.linalg.norm(model.embed.lora_b).item()
            print(f"iter {it:4d} | dpo loss {loss.item():.4f} | margin {rew.mean().item():7.3f} "
                  f"| acc {acc:.2f} | emb adapter |B| {emb_norm:.3f}")

    # held-out: policy vs a truly frozen base (all adapters off), tidy-entry log-prob gain
    B = heldout.shape[0] // 2
    pol = seq_logp(model, heldout)
    saved = [m.scale for m in adapter_modules(model)]
    for m in adapter_modules(model):
        m.scale = 0.0
    base = seq_logp(model, heldout)
    for m, s in zip(adapter_modules(model), saved):
        m.scale = s
    true_margin = ((pol[:B] - base[:B]) - (pol[B:] - base[B:]))
    print(f"held-out implicit reward margin vs base: {true_margin.mean().item():.3f} "
          f"| pref acc {(true_margin > 0).astype(mx.float32).mean().item():.3f}")
    print(f"held-out chosen logp {pol[:B].mean().item():.3f} (base {base[:B].mean().item():.3f}) "
          f"| rejected logp {pol[B:].mean().item():.3f} (base {base[B:].mean().item():.3f})")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
