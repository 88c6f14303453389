# QLoRA fine-tune of a tiny "bell-code" token model (railway signal-box bell codes).
# Base model is pretrained on the old code book, quantized to 4 bits, then LoRA
# adapters are put on every linear layer (except lm_head) and fine-tuned on the
# revised code book.
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

VOCAB = 64
DIM = 64
HID = 128
mx.random.seed(3)


class LoRALinear(nn.Module):
    @staticmethod
    def from_linear(linear, rank=8):
        output_dims, input_dims = linear.weight.shape
        if isinstance(linear, nn.QuantizedLinear):
            input_dims *= 32 // linear.bits
        lora_lin = LoRALinear(input_dims, output_dims, rank)
        lora_lin.linear = linear
        return lora_lin

    def __init__(self, input_dims, output_dims, lora_rank=8, bias=False):
        super().__init__()
        self.linear = nn.Linear(input_dims, output_dims, bias=bias)
        scale = 1 / input_dims ** 0.5
        self.lora_a = mx.random.uniform(low=-scale, high=scale, shape=(input_dims, lora_rank))
        self.lora_b = mx.zeros(shape=(lora_rank, output_dims))

    def __call__(self, x):
        y = self.linear(x)
        z = (x @ self.lora_a) @ self.lora_b
        return y + 2.0 * z


class BellModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, DIM)
        self.up = nn.Linear(2 * DIM, HID)
        self.mid = nn.Linear(HID, HID)
        self.down = nn.Linear(HID, DIM)
        self.lm_head = nn.Linear(DIM, VOCAB)

    def __call__(self, ctx):
        h = self.embed(ctx).reshape(ctx.shape[0], -1)
        h = nn.gelu(self.up(h))
        h = nn.gelu(self.mid(h))
        h = self.down(h)
        return self.lm_head(h)


def apply_lora_to_all_layers(model):
    linear_replacements = {}
    for name, module in model.named_modules():
        if name == "lm_head":
            continue
        if isinstance(module, nn.Linear) or isinstance(module, nn.QuantizedLinear):
            replacement_module = LoRALinear.from_linear(module)
            linear_replacements[name] = replacement_module
    model.update_modules(tree_unflatten(list(linear_replacements.items())))


CODE_BOOK = mx.random.permutation(VOCAB)


def make_batch(n, book):
    a = mx.random.randint(0, VOCAB, (n,))
    b = mx.random.randint(0, VOCAB, (n,))
    if book == "old":
        y = CODE_BOOK[b]
    else:
        y = CODE_BOOK[(b + 3 * (a % 2)) % VOCAB]
    return mx.stack([a, b], axis=1), y


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def train(model, opt, iters, book, tag, every):
    loss_and_grad = nn.value_and_grad(model, loss_fn)
    tic = time.perf_counter()
    for it in range(1, iters + 1):
        x, y = make_batch(128, book)
        loss, grads = loss_and_grad(model, x, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if it % every == 0:
            print(f"[{tag}] Iter {it}: Train loss {loss.item():.3f}, It/sec {every / (time.perf_counter() - tic):.1f}")
            tic = time.perf_counter()


def accuracy(model, book):
    x, y = make_batch(2048, book)
    return (mx.argmax(model(x), axis=1) == y).mean().item()


model = BellModel()
mx.eval(model.parameters())
print("Pretraining base model on the old code book")
train(model, optim.AdamW(learning_rate=1e-3), 120, "old", "base", 40)
print(f"base acc old book {accuracy(model, 'old'):.3f}  new book {accuracy(model, 'new'):.3f}")

nn.quantize(model, group_size=64, bits=4, class_predicate=lambda p, m: isinstance(m, nn.Linear) and p != "lm_head")
print(f"4-bit base acc new book {accuracy(model, 'new'):.3f}")

model.freeze()
apply_lora_to_all_layers(model)
p = sum(v.size for _, v in tree_flatten(model.trainable_parameters())) / 10**6
print(f"Trainable parameters {p:.3f}M")

print("Fine-tuning LoRA on the revised code book")
train(model, optim.Adam(learning_rate=1e-3), 300, "new", "qlora", 25)
print(f"final acc new book {accuracy(model, 'new'):.3f}")
