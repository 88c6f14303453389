# QLoRA fine-tune of a tiny 4-bit "table QA" classifier, then fuse the adapters
# back into plain Linear layers and check the fused model still scores the same.
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(7)

VOCAB, DIM, NCOL, SEQ = 96, 128, 8, 12


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
        scale = 1 / math.sqrt(input_dims)
        self.lora_a = mx.random.uniform(low=-scale, high=scale, shape=(input_dims, lora_rank))
        self.lora_b = mx.zeros(shape=(lora_rank, output_dims))

    def __call__(self, x):
        dtype = self.linear.weight.dtype
        if isinstance(self.linear, nn.QuantizedLinear):
            dtype = self.linear.scales.dtype
        y = self.linear(x.astype(dtype))
        z = (x @ self.lora_a) @ self.lora_b
        return y + 2.0 * z

    def merge(self):
        if isinstance(self.linear, nn.QuantizedLinear):
            self.linear.weight = mx.dequantize(
                self.linear.weight, self.linear.group_size, self.linear.bits
            )
        output_dims, input_dims = self.linear.weight.shape
        self.linear.weight += (self.lora_a @ self.lora_b).T * 2.0
        new_linear = nn.Linear(input_dims, output_dims, bias=False)
        new_linear.weight = self.linear.weight
        return new_linear


class TableQA(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, DIM)
        self.q_proj = nn.Linear(DIM, DIM, bias=False)
        self.up = nn.Linear(DIM, 2 * DIM, bias=False)
        self.down = nn.Linear(2 * DIM, DIM, bias=False)
        self.head = nn.Linear(DIM, NCOL)

    def __call__(self, tok):
        h = self.embed(tok).mean(axis=1)
        h = h + nn.gelu(self.q_proj(h))
        h = h + self.down(nn.gelu(self.up(h)))
        return self.head(h)


# synthetic "question -> column" data: the column is decided by which keyword
# bucket appears most often in the question
def make_split(n, seed):
    key = mx.random.key(seed)
    tok = mx.random.randint(0, VOCAB, (n, SEQ), key=key)
    counts = mx.stack([((tok % NCOL) == c).sum(axis=1) for c in range(NCOL)], axis=1)
    return tok, mx.argmax(counts, axis=1)


train_x, train_y = make_split(2048, 1)
val_x, val_y = make_split(512, 2)

model = TableQA()
nn.quantize(model, group_size=64, bits=4, class_predicate=lambda p, m: p in ("q_proj", "up", "down"))
model.freeze()
for name in ("q_proj", "up", "down"):
    setattr(model, name, LoRALinear.from_linear(getattr(model, name), rank=8))
model.head.unfreeze()

n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"Trainable parameters: {n_train}")


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


def evaluate(m):
    logits = m(val_x)
    loss = nn.losses.cross_entropy(logits, val_y, reduction="mean")
    acc = (mx.argmax(logits, axis=1) == val_y).mean()
    return loss.item(), acc.item()


opt = optim.Adam(learning_rate=2e-3)
loss_and_grad = nn.value_and_grad(model, loss_fn)
tic = time.perf_counter()
it = 0
for epoch in range(6):
    perm = mx.random.permutation(train_x.shape[0])
    for s in range(0, train_x.shape[0], 64):
        idx = perm[s : s + 64]
        loss, grads = loss_and_grad(model, train_x[idx], train_y[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        it += 1
        if it % 40 == 0:
            print(f"Iter {it}: Train loss {loss.item():.3f}, It/sec {40 / (time.perf_counter() - tic):.2f}")
            tic = time.perf_counter()
    vl, va = evaluate(model)
    print(f"Iter {it}: Val loss {vl:.3f}, Val acc {va:.3f}")

lora_val = evaluate(model)

# fuse adapters into plain Linear layers
print("Merging LoRA adapters ...")
for name in ("q_proj", "up", "down"):
    setattr(model, name, getattr(model, name).merge())
mx.eval(model.parameters())
fused_val = evaluate(model)
print(f"adapter model : val loss {lora_val[0]:.4f} acc {lora_val[1]:.3f}")
print(f"fused model   : val loss {fused_val[0]:.4f} acc {fused_val[1]:.3f}")
mx.savez("/tmp/qlora_fuse_fused.npz", **dict(tree_flatten(model.parameters())))
print("Saved fused weights to /tmp/qlora_fuse_fused.npz")
