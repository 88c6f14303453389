"""Hive-frame tagger: adapt a small pretrained token model to a new frame code with LoRA,
save the adapter, then reopen it on a fresh copy of the base model for evaluation."""
import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Union

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

VOCAB = 48
SEQ = 8
DIM = 32
BASE_SHIFT = 1
TASK_SHIFT = 7


# ---------------------------------------------------------------- LoRA pieces
class LoRaLayer(nn.Module):
    def __init__(
        self,
        linear: Union[nn.Linear, nn.QuantizedLinear],
        rank: int,
        alpha: float = 0.1,
        dropout: float = 0.0,
    ):
        super().__init__()

        self.original_layer = linear

        self.dropout = nn.Dropout(p=dropout)

        output_dims, input_dims = linear.weight.shape
        if isinstance(linear, nn.QuantizedLinear):
            input_dims *= 32 // linear.bits

        std_dev = 1 / math.sqrt(rank)

        self.A = mx.random.uniform(
            low=-std_dev,
            high=std_dev,
            shape=(input_dims, rank),
        )
        self.B = mx.zeros((rank, output_dims))
        self.alpha = alpha

    def __call__(self, x):
        y = self.original_layer(x)
        lora_update = (self.dropout(x) @ self.A) @ self.B
        return y + (self.alpha * lora_update).astype(x.dtype)


def set_module_by_name(model, name, new_module):
    parts = name.split(".")
    module = model
    for part in parts[:-1]:
        if part.isdigit():
            module = module[int(part)]
        else:
            module = getattr(module, part)
    if parts[-1].isdigit():
        module[int(parts[-1])] = new_module
    else:
        setattr(module, parts[-1], new_module)


def freeze_model(model):
    for name, module in model.named_modules():
        name = name.split(".")[0]
        if name in ["language_model", "vision_model", "multi_modal_projector"]:
            model[f"{name}"].freeze()


def get_peft_model(
    model, linear_layers, rank=10, alpha=0.1, dropout=0.1, freeze=True, verbose=True
):
    if freeze:
        freeze_model(model)

    for name, module in model.language_model.named_modules():
        if isinstance(module, nn.Linear) or isinstance(module, nn.QuantizedLinear):
            if name.split(".")[-1] in linear_layers:
                lora_layer = LoRaLayer(module, rank, alpha, dropout)
                set_module_by_name(model.language_model, name, lora_layer)

    model.config.lora = {}
    model.config.lora["rank"] = rank
    model.config.lora["alpha"] = alpha
    model.config.lora["dropout"] = dropout

    if verbose:
        n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
        n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
        print(f"#trainable params: {n_train} || all params: {n_all} || trainable%: {100 * n_train / n_all:.3f}%")

    return model


def find_all_linear_names(model):
    lora_module_names = set()
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear) or isinstance(module, nn.QuantizedLinear):
            names = name.split(".")
            lora_module_names.add(names[0] if len(names) == 1 else names[-1])
    if "lm_head" in lora_module_names:
        lora_module_names.remove("lm_head")
    return list(lora_module_names)


def save_adapter(model: nn.Module, adapter_file: Union[str, Path]):
    path = Path(adapter_file)
    if hasattr(model.config, "lora"):
        with open(path.parent / "adapter_config.json", "w") as f:
            json.dump(model.config.lora, f)
    flattened_tree = tree_flatten(model.trainable_parameters())
    mx.save_safetensors(str(adapter_file), dict(flattened_tree))


def apply_lora_layers(model: nn.Module, adapter_path: str) -> nn.Module:
    adapter_path = Path(adapter_path)

    if not adapter_path.exists():
        raise FileNotFoundError(f"The adapter path does not exist: {adapter_path}")

    list_of_modules = find_all_linear_names(model.language_model.model)
    model = get_peft_model(model, list_of_modules)

    model.load_weights(str(adapter_path / "adapters.safetensors"), strict=False)
    return model


# ---------------------------------------------------------------- tiny model
class Block(nn.Module):
    def __init__(self, dim, heads=4):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.RMSNorm(dim)
        self.q_proj = nn.Linear(dim, dim, bias=False)
        self.k_proj = nn.Linear(dim, dim, bias=False)
        self.v_proj = nn.Linear(dim, dim, bias=False)
        self.o_proj = nn.Linear(dim, dim, bias=False)
        self.norm2 = nn.RMSNorm(dim)
        self.up_proj = nn.Linear(dim, 2 * dim, bias=False)
        self.down_proj = nn.Linear(2 * dim, dim, bias=False)

    def __call__(self, x, mask):
        B, L, D = x.shape
        h = self.norm1(x)
        q = self.q_proj(h).reshape(B, L, self.heads, -1).transpose(0, 2, 1, 3)
        k = self.k_proj(h).reshape(B, L, self.heads, -1).transpose(0, 2, 1, 3)
        v = self.v_proj(h).reshape(B, L, self.heads, -1).transpose(0, 2, 1, 3)
        a = mx.fast.scaled_dot_product_attention(q, k, v, scale=q.shape[-1] ** -0.5, mask=mask)
        x = x + self.o_proj(a.transpose(0, 2, 1, 3).reshape(B, L, D))
        return x + self.down_proj(nn.gelu(self.up_proj(self.norm2(x))))


class Backbone(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed_tokens = nn.Embedding(VOCAB, DIM)
        self.layers = [Block(DIM) for _ in range(2)]
        self.norm = nn.RMSNorm(DIM)

    def __call__(self, tokens):
        x = self.embed_tokens(tokens)
        mask = nn.MultiHeadAttention.create_additive_causal_mask(tokens.shape[1])
        for layer in self.layers:
            x = layer(x, mask)
        return self.norm(x)


class LanguageModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.model = Backbone()
        self.lm_head = nn.Linear(DIM, VOCAB, bias=False)

    def __call__(self, tokens):
        return self.lm_head(self.model(tokens))


class FrameTagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.config = SimpleNamespace(model_type="frame_tagger")
        self.language_model = LanguageModel()

    def __call__(self, tokens):
        return self.language_model(tokens)


# ---------------------------------------------------------------- data + loops
def make_batch(n, shift):
    x = mx.random.randint(0, VOCAB, (n, SEQ))
    y = (x + shift) % VOCAB
    return x, y


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y).mean()


def evaluate(model, x, y):
    logits = model(x)
    loss = nn.losses.cross_entropy(logits, y).mean()
    acc = (logits.argmax(-1) == y).astype(mx.float32).mean()
    return loss.item(), acc.item()


def fit(model, opt, shift, steps, tag, log_every):
    step_fn = nn.value_and_grad(model, loss_fn)
    for it in range(1, steps + 1):
        x, y = make_batch(32, shift)
        loss, grads = step_fn(model, x, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        if it % log_every == 0 or it == 1:
            print(f"[{tag}] step {it:4d}  loss {loss.item():.4f}")


def main():
    mx.random.seed(3)
    workdir = Path(tempfile.mkdtemp())

    # 1) base model for the old frame code
    base = FrameTagger()
    fit(base, optim.Adam(learning_rate=3e-3), BASE_SHIFT, 120, "base", 40)
    base_file = workdir / "base.safetensors"
    base.save_weights(str(base_file))

    vx, vy = make_batch(512, TASK_SHIFT)
    base.eval()
    bl, ba = evaluate(base, vx, vy)
    print(f"base model on new frame code: val loss {bl:.4f}  acc {ba:.3f}")

    # 2) LoRA adaptation to the new frame code
    model = FrameTagger()
    model.load_weights(str(base_file))
    names = find_all_linear_names(model.language_model.model)
    model = get_peft_model(model, names, rank=8, alpha=2.0, dropout=0.05)
    model.train()
    fit(model, optim.Adam(learning_rate=3e-3), TASK_SHIFT, 150, "lora", 25)
    model.eval()
    tl, ta = evaluate(model, vx, vy)
    print(f"adapted (in memory): val loss {tl:.4f}  acc {ta:.3f}")

    adapter_dir = workdir / "adapters"
    adapter_dir.mkdir(parents=True, exist_ok=True)
    save_adapter(model, adapter_dir / "adapters.safetensors")
    print(f"saved adapter to {adapter_dir}")

    # 3) reopen the adapter on a fresh base copy
    fresh = FrameTagger()
    fresh.load_weights(str(base_file))
    fresh = apply_lora_layers(fresh, str(adapter_dir))
    fresh.eval()
    rl, ra = evaluate(fresh, vx, vy)
    print(f"adapter reopened: val loss {rl:.4f}  acc {ra:.3f}")
    print(f"summary: base acc {ba:.3f} | adapted acc {ta:.3f} | reopened acc {ra:.3f}")
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
