"""LoRA fine-tune of a tiny causal LM on a synthetic "ledger" language.

Base model is pretrained briefly on one token grammar, then frozen; LoRA
adapters on the attention query/value projections learn a shifted grammar.
Checkpoints of the adapter weights are written during training, and the
final adapters are reloaded into a fresh model to confirm the result.
"""
import math
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

mx.random.seed(7)

VOCAB = 48
SEQ = 12
DIM = 32
HEADS = 4
LAYERS = 2


class LoRALinear(nn.Module):
    @staticmethod
    def from_linear(linear, rank=8, alpha=16.0):
        out_dims, in_dims = linear.weight.shape
        lora = LoRALinear(in_dims, out_dims, rank=rank, alpha=alpha)
        lora.linear = linear
        return lora

    def __init__(self, in_dims, out_dims, rank=8, alpha=16.0):
        super().__init__()
        self.linear = nn.Linear(in_dims, out_dims, bias=False)
        self.scale = alpha / rank
        bound = 1.0 / math.sqrt(in_dims)
        self.lora_a = mx.random.uniform(-bound, bound, (in_dims, rank))
        self.lora_b = mx.zeros((rank, out_dims))

    def __call__(self, x):
        return self.linear(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.wq = nn.Linear(DIM, DIM, bias=False)
        self.wk = nn.Linear(DIM, DIM, bias=False)
        self.wv = nn.Linear(DIM, DIM, bias=False)
        self.wo = nn.Linear(DIM, DIM, bias=False)

    def __call__(self, x, mask):
        B, L, _ = x.shape
        q = self.wq(x).reshape(B, L, HEADS, -1).transpose(0, 2, 1, 3)
        k = self.wk(x).reshape(B, L, HEADS, -1).transpose(0, 2, 1, 3)
        v = self.wv(x).reshape(B, L, HEADS, -1).transpose(0, 2, 1, 3)
        out = mx.fast.scaled_dot_product_attention(q, k, v, scale=q.shape[-1] ** -0.5, mask=mask)
        return self.wo(out.transpose(0, 2, 1, 3).reshape(B, L, -1))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.attention = Attention()
        self.norm1 = nn.RMSNorm(DIM)
        self.norm2 = nn.RMSNorm(DIM)
        self.mlp = nn.Sequential(nn.Linear(DIM, 4 * DIM), nn.GELU(), nn.Linear(4 * DIM, DIM))

    def __call__(self, x, mask):
        x = x + self.attention(self.norm1(x), mask)
        return x + self.mlp(self.norm2(x))


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, DIM)
        self.pos = nn.Embedding(SEQ, DIM)
        self.layers = [Block() for _ in range(LAYERS)]
        self.norm = nn.RMSNorm(DIM)
        self.head = nn.Linear(DIM, VOCAB, bias=False)

    def __call__(self, x):
        L = x.shape[1]
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        h = self.embed(x) + self.pos(mx.arange(L))
        for layer in self.layers:
            h = layer(h, mask)
        return self.head(self.norm(h))


def make_sequences(n, step, key):
    # each row: start token, then arithmetic progression mod VOCAB with a constant step
    starts = mx.random.randint(0, VOCAB, (n, 1), key=key)
    offs = mx.arange(SEQ + 1)[None, :] * step
    return (starts + offs) % VOCAB


def loss_fn(model, batch):
    logits = model(batch[:, :-1])
    return nn.losses.cross_entropy(logits, batch[:, 1:], reduction="mean")


def evaluate(model, data, batch_size=64):
    model.eval()
    total, count = 0.0, 0
    for i in range(0, data.shape[0], batch_size):
        b = data[i : i + batch_size]
        total += loss_fn(model, b).item() * b.shape[0]
        count += b.shape[0]
    model.train()
    return total / count


def pretrain(model, steps=50):
    opt = optim.AdamW(learning_rate=3e-3)
    vg = nn.value_and_grad(model, loss_fn)
    key = mx.random.key(1)
    for it in range(steps):
        key, sub = mx.random.split(key)
        batch = make_sequences(16, 3, sub)
        loss, grads = vg(model, batch)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
    return loss.item()


class TrainableLoRA:
    def __init__(self, model):
        self.model = model

    def init_lora(self, rank=8, alpha=16.0):
        self.model.freeze()
        modules = [
            (key, LoRALinear.from_linear(m, rank=rank, alpha=alpha))
            for key, m in self.model.named_modules()
            if key.endswith("attention.wq") or key.endswith("attention.wv")
        ]
        self.model.update_modules(tree_unflatten(modules))
        for _, m in modules:
            m.linear.freeze()
        self.model.train()
        return len(modules)

    def save_adapters(self, adapter_path):
        state = dict(tree_flatten(self.model.trainable_parameters()))
        mx.save_safetensors(adapter_path, state)

    def save_checkpoint(self, checkpoint_dir, step):
        adapter_path = os.path.join(checkpoint_dir, f"ckpt-{step:04d}.safetensors")
        state = dict(tree_flatten(self.model.trainable_parameters()))
        mx.save_safetensors(adapter_path, state)
        return adapter_path

    def load_adapters(self, adapter_path):
        self.model.load_weights(adapter_path, strict=False)


def main():
    t0 = time.time()
    base = TinyLM()
    mx.eval(base.parameters())
    pre = pretrain(base)
    print(f"pretrain done, loss {pre:.3f}", flush=True)

    val = make_sequences(64, 5, mx.random.key(99))
    base_state = dict(tree_flatten(base.parameters()))

    lora = TrainableLoRA(base)
    n = lora.init_lora(rank=8)
    n_train = sum(v.size for _, v in tree_flatten(base.trainable_parameters()))
    n_all = sum(v.size for _, v in tree_flatten(base.parameters()))
    print(f"LoRA on {n} modules, trainable {n_train} / {n_all} params", flush=True)
    print(f"step    0 | val loss {evaluate(base, val):.3f}", flush=True)

    opt = optim.Adam(learning_rate=2e-3)
    vg = nn.value_and_grad(base, loss_fn)
    key = mx.random.key(5)
    out_dir = tempfile.mkdtemp()
    iters, report, ckpt_every = 90, 15, 30
    running = 0.0
    for it in range(1, iters + 1):
        key, sub = mx.random.split(key)
        batch = make_sequences(16, 5, sub)
        loss, grads = vg(base, batch)
        opt.update(base, grads)
        mx.eval(base.trainable_parameters(), opt.state, loss)
        running += loss.item()
        if it % report == 0:
            print(f"step {it:4d} | train loss {running / report:.3f} | val loss {evaluate(base, val):.3f}", flush=True)
            running = 0.0
        if it % ckpt_every == 0:
            path = lora.save_checkpoint(out_dir, it)
            print(f"  checkpoint -> {os.path.basename(path)} ({os.path.getsize(path)} bytes)", flush=True)

    final_path = os.path.join(out_dir, "adapters.safetensors")
    lora.save_adapters(final_path)
    final_val = evaluate(base, val)

    fresh = TinyLM()
    fresh.load_weights(list(base_state.items()))
    TrainableLoRA(fresh).init_lora(rank=8)
    TrainableLoRA(fresh).load_adapters(final_path)
    reload_val = evaluate(fresh, val)
    print(f"final val loss {final_val:.3f} | reloaded adapters val loss {reload_val:.3f}", flush=True)
    print(f"done in {time.time() - t0:.1f}s, files: {sorted(os.listdir(out_dir))}", flush=True)


if __name__ == "__main__":
    main()
