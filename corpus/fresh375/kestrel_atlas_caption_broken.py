"""Atlas tile captioner: a tiny vision-language model that reads 8x8 survey
tiles and writes '<terrain> <marker>' labels.

Norm layers keep fp32 math; their outputs are cast back to the activation
dtype of the caller (same trick as the trainer we use on the big model).
"""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

TERRAIN = ["marsh", "ridge", "forest", "dune"]
MARKER = ["north", "centre", "south"]
VOCAB = ["<pad>", "<bos>", "<eos>"] + TERRAIN + MARKER
TOK = {w: i for i, w in enumerate(VOCAB)}

_NORM_OUTPUT_CAST_BASE_CLASSES = (nn.RMSNorm, nn.LayerNorm)
_NORM_OUTPUT_CAST_PATCHED_CLASSES = set()


def _has_floating_parameter(module) -> bool:
    for _, value in tree_flatten(module.parameters()):
        if mx.issubdtype(value.dtype, mx.floating):
            return True
    return False


def _is_norm_output_cast_candidate(module_path, module) -> bool:
    norm_cls = type(module)
    if norm_cls in _NORM_OUTPUT_CAST_BASE_CLASSES:
        return True
    if "norm" not in norm_cls.__name__.lower():
        return False
    if not _has_floating_parameter(module):
        return False
    return len(module.children()) == 0


def _iter_norm_output_cast_classes(model):
    norm_classes = list(_NORM_OUTPUT_CAST_BASE_CLASSES)
    for module_path, module in model.named_modules():
        if _is_norm_output_cast_candidate(module_path, module):
            if type(module) not in norm_classes:
                norm_classes.append(type(module))
    return tuple(norm_classes)


def set_norm_output_cast_to_input_dtype(model) -> None:
    for norm_cls in _iter_norm_output_cast_classes(model):
        if norm_cls.__dict__.get("_cast_output_to_input_dtype", False):
            continue
        original_call = norm_cls.__call__

        def norm_call_cast_output(self, x, *args, _original_call=original_call, **kwargs):
            out = _original_call(self, x, *args, **kwargs)
            if hasattr(x, "dtype") and hasattr(out, "dtype") and out.dtype != x.dtype:
                return out.astype(x.dtype)
            return out

        norm_cls._original_call = original_call
        norm_cls.__call__ = norm_call_cast_output
        norm_cls._cast_output_to_input_dtype = True
        _NORM_OUTPUT_CAST_PATCHED_CLASSES.add(norm_cls)


# ---------------------------------------------------------------- data
def render_tile(rng, terrain, marker):
    img = rng.normal(0.0, 0.15, size=(8, 8)).astype(np.float32)
    if terrain == 0:      # marsh: horizontal stripes
        img[::2, :] += 1.0
    elif terrain == 1:    # ridge: diagonal
        for i in range(8):
            img[i, i] += 1.2
    elif terrain == 2:    # forest: checker
        img[(np.add.outer(np.arange(8), np.arange(8)) % 2) == 0] += 0.9
    else:                 # dune: vertical stripes
        img[:, ::2] += 1.0
    row = [0, 3, 6][marker]
    img[row:row + 2, 6:8] += 2.0
    return img


def make_split(n, seed):
    rng = np.random.default_rng(seed)
    imgs, seqs = [], []
    for _ in range(n):
        t = int(rng.integers(4))
        m = int(rng.integers(3))
        imgs.append(render_tile(rng, t, m))
        seqs.append([TOK["<bos>"], TOK[TERRAIN[t]], TOK[MARKER[m]], TOK["<eos>"]])
    return mx.array(np.stack(imgs)), mx.array(np.array(seqs, dtype=np.int32))


# ---------------------------------------------------------------- model
class ConnectorNorm(nn.Module):
    def __init__(self, dims, eps=1e-5):
        super().__init__()
        self.weight = mx.ones((dims,))
        self.eps = eps

    def __call__(self, hidden_states):
        h = hidden_states.astype(mx.float32)
        h = h * mx.rsqrt(mx.mean(h * h, axis=-1, keepdims=True) + self.eps)
        return self.weight * h


class VisionTower(nn.Module):
    def __init__(self, dims):
        super().__init__()
        self.patch = nn.Linear(16, dims)
        self.mlp = nn.Linear(dims, dims)

    def __call__(self, images):
        b = images.shape[0]
        p = images.reshape(b, 2, 4, 2, 4).transpose(0, 1, 3, 2, 4).reshape(b, 4, 16)
        return self.mlp(nn.gelu(self.patch(p)))


class Block(nn.Module):
    def __init__(self, dims, heads):
        super().__init__()
        self.ln1 = nn.RMSNorm(dims)
        self.attn = nn.MultiHeadAttention(dims, heads)
        self.ln2 = nn.RMSNorm(dims)
        self.ff1 = nn.Linear(dims, 4 * dims)
        self.ff2 = nn.Linear(4 * dims, dims)

    def __call__(self, x, mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, mask)
        return x + self.ff2(nn.gelu(self.ff1(self.ln2(x))))


class TileCaptioner(nn.Module):
    def __init__(self, vocab, dims=64, heads=4):
        super().__init__()
        self.vision = VisionTower(dims)
        self.projector = nn.Linear(dims, dims)
        self.connector_norm = ConnectorNorm(dims)
        self.embed = nn.Embedding(vocab, dims)
        self.pos = nn.Embedding(16, dims)
        self.block = Block(dims, heads)
        self.final_norm = nn.RMSNorm(dims)
        self.head = nn.Linear(dims, vocab)

    def __call__(self, images, tokens):
        feats = self.projector(self.vision(images))
        feats = self.connector_norm(hidden_states=feats)
        x = mx.concatenate([feats, self.embed(tokens)], axis=1)
        L = x.shape[1]
        x = x + self.pos(mx.arange(L))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        x = self.block(x, mask)
        return self.head(self.final_norm(x))


def loss_fn(model, images, seqs):
    logits = model(images, seqs[:, :-1])
    text_logits = logits[:, 4:, :]
    return nn.losses.cross_entropy(text_logits, seqs[:, 1:], reduction="mean")


def greedy_caption(model, images):
    toks = mx.full((images.shape[0], 1), TOK["<bos>"], dtype=mx.int32)
    for _ in range(3):
        logits = model(images, toks)
        nxt = mx.argmax(logits[:, -1, :], axis=-1).astype(mx.int32)
        toks = mx.concatenate([toks, nxt[:, None]], axis=1)
    return toks


def exact_match(model, images, seqs):
    out = greedy_caption(model, images)
    return mx.mean(mx.all(out[:, 1:3] == seqs[:, 1:3], axis=1)).item()


def main():
    mx.random.seed(7)
    train_x, train_y = make_split(1536, seed=1)
    val_x, val_y = make_split(256, seed=2)

    model = TileCaptioner(len(VOCAB))
    set_norm_output_cast_to_input_dtype(model)
    mx.eval(model.parameters())
    n_params = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    print(f"tile captioner: {n_params} trainable params, vocab {len(VOCAB)}")

    optimizer = optim.AdamW(learning_rate=2e-3, weight_decay=0.01)
    step_fn = nn.value_and_grad(model, loss_fn)

    batch = 32
    steps = 300
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    running = 0.0
    for step in range(1, steps + 1):
        idx = mx.array(rng.integers(0, train_x.shape[0], size=batch))
        loss, grads = step_fn(model, train_x[idx], train_y[idx])
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state, loss)
        running += loss.item()
        if step % 50 == 0:
            val_loss = loss_fn(model, val_x, val_y).item()
            em = exact_match(model, val_x, val_y)
            print(f"step {step:4d} | train loss {running / 50:.4f} | val loss {val_loss:.4f} | "
                  f"val exact {em * 100:.1f}%")
            running = 0.0

    em = exact_match(model, val_x, val_y)
    sample = greedy_caption(model, val_x[:3])
    for row, ref in zip(sample.tolist(), val_y[:3].tolist()):
        print("  pred:", " ".join(VOCAB[t] for t in row[1:3]), "| ref:",
              " ".join(VOCAB[t] for t in ref[1:3]))
    print(f"final val exact match {em * 100:.1f}% (chance {100 / 12:.1f}%), "
          f"{time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":
    main()
