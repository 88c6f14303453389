# Convert a small float32 checkpoint to a 4-bit MLX model, then LoRA fine-tune it
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

VOCAB, DIM, HID, LAYERS = 64, 64, 128, 2
mx.random.seed(7)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm = nn.RMSNorm(DIM)
        self.gate_proj = nn.Linear(DIM, HID, bias=False)
        self.up_proj = nn.Linear(DIM, HID, bias=False)
        self.down_proj = nn.Linear(HID, DIM, bias=False)

    def __call__(self, x):
        h = self.norm(x)
        return x + self.down_proj(nn.gelu_approx(self.gate_proj(h)) * self.up_proj(h))


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, DIM)
        self.layers = [Block() for _ in range(LAYERS)]
        self.norm = nn.RMSNorm(DIM)
        self.lm_head = nn.Linear(DIM, VOCAB, bias=False)

    def __call__(self, t):
        x = self.embed(t) * math.sqrt(DIM)
        for l in self.layers:
            x = l(x)
        return self.lm_head(self.norm(x))


def make_checkpoint():
    # stands in for a downloaded float32 checkpoint
    ref = TinyLM()
    w = {}
    for k, v in tree_flatten(ref.parameters()):
        if k == "norm.weight":
            w[k] = mx.ones(v.shape)
        elif k.endswith("norm.weight"):
            w[k] = mx.full(v.shape, 12.0)
        elif k == "lm_head.weight":
            w[k] = 0.05 * mx.random.normal(v.shape)
        else:
            w[k] = mx.random.normal(v.shape)
    return w


def convert(weights, quantize=True, dtype="bfloat16", q_group_size=32, q_bits=4):
    model = TinyLM()
    dtype = mx.float16 if quantize else getattr(mx, dtype)
    weights = {k: v.astype(dtype) for k, v in weights.items()}
    model.load_weights(list(weights.items()))
    if quantize:
        nn.quantize(model, q_group_size, q_bits,
                    class_predicate=lambda p, m: isinstance(m, nn.Linear))
    return model


class LoRA(nn.Module):
    def __init__(self, base, rank=8, scale=2.0):
        super().__init__()
        out_dims, in_dims = base.weight.shape
        in_dims = in_dims * 32 // base.bits
        self.base = base
        self.scale = scale
        self.lora_a = mx.random.uniform(-1 / math.sqrt(in_dims), 1 / math.sqrt(in_dims), (in_dims, rank))
        self.lora_b = mx.zeros((rank, out_dims))

    def __call__(self, x):
        y = self.base(x)
        z = (x @ self.lora_a) @ self.lora_b
        return y + (self.scale * z).astype(x.dtype)


def add_lora(model):
    model.freeze()
    for b in model.layers:
        b.gate_proj = LoRA(b.gate_proj)
        b.up_proj = LoRA(b.up_proj)
        b.down_proj = LoRA(b.down_proj)
    model.lm_head = LoRA(model.lm_head)


def batch(n=8, T=8):
    start = mx.random.randint(0, VOCAB, (n, 1))
    steps = mx.arange(T + 1)[None, :]
    seq = (start * 5 + steps * 3) % VOCAB
    return seq[:, :-1], seq[:, 1:]


def loss_fn(model, x, y):
    logits = model(x).astype(mx.float32)
    return nn.losses.cross_entropy(logits, y, reduction="mean")


def main():
    ckpt = make_checkpoint()
    model = convert(ckpt, quantize=True, dtype="bfloat16")
    print("converted dtypes:", sorted({str(v.dtype) for _, v in tree_flatten(model.parameters())}))
    add_lora(model)
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    print(f"trainable params: {n_train}")
    opt = optim.Adam(learning_rate=3e-3)
    step = nn.value_and_grad(model, loss_fn)
    xv, yv = batch(16)
    for it in range(1, 41):
        x, y = batch()
        loss, grads = step(model, x, y)
        opt.update(model, grads)
        mx.eval(model.trainable_parameters(), opt.state, loss)
        if it % 5 == 0 or it == 1:
            vl = loss_fn(model, xv, yv)
            acc = (mx.argmax(model(xv), -1) == yv).astype(mx.float32).mean()
            print(f"iter {it:4d}  train loss {loss.item():.4f}  val loss {vl.item():.4f}  val acc {acc.item():.3f}")


if __name__ == "__main__":
    main()
