# Harbourmaster log-line model: pretrain a tiny causal char model on generic
# harbour chatter, then LoRA-tune it on the harbourmaster's log format.
# Trainer loop follows the mlx_lm.tuner.trainer layout.
import math
import random
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

random.seed(7)
mx.random.seed(7)

VESSELS = ["ASTRID", "BRAEMAR", "CORAL", "DUNLIN", "EIDER", "FULMAR", "GANNET"]
BERTHS = ["B1", "B2", "B3", "Q4", "Q5", "T7"]
CHARS = sorted(set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 :-/.,|"))
STOI = {c: i + 1 for i, c in enumerate(CHARS)}
VOCAB = len(CHARS) + 1
CTX = 40


def chatter_line():
    v = random.choice(VESSELS).lower()
    return f"{v} calling harbour, eta {random.randint(1, 23)} hours, {random.choice(['fair', 'swell', 'fog'])}."


def log_line():
    v = random.choice(VESSELS)
    hh, mm = random.randint(0, 23), random.choice([0, 15, 30, 45])
    draft = random.randint(40, 120) / 10
    return f"{hh:02d}{mm:02d}|{v}|{random.choice(BERTHS)}|D{draft:.1f}|{random.choice(['IN', 'OUT'])}"


def encode(s):
    ids = [STOI[c] for c in s][:CTX]
    return ids + [0] * (CTX - len(ids)), len(ids)


def make_set(fn, n):
    return [encode(fn()) for _ in range(n)]


def iterate_batches(dataset, batch_size, train=False):
    while True:
        idx = list(range(len(dataset)))
        if train:
            random.shuffle(idx)
        for i in range(0, len(idx) - batch_size + 1, batch_size):
            rows = [dataset[j] for j in idx[i : i + batch_size]]
            toks = mx.array([r[0] for r in rows])
            lens = mx.array([r[1] for r in rows])
            yield toks, lens
        if not train:
            break


class LoRALinear(nn.Module):
    def __init__(self, linear, r=4, scale=8.0):
        super().__init__()
        out_dims, in_dims = linear.weight.shape
        self.linear = linear
        self.scale = scale
        bound = 1 / math.sqrt(in_dims)
        self.lora_a = mx.random.uniform(-bound, bound, (in_dims, r))
        self.lora_b = mx.zeros((r, out_dims))

    def __call__(self, x):
        y = self.linear(x)
        z = (x @ self.lora_a) @ self.lora_b
        return y + (self.scale * z).astype(x.dtype)


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = nn.MultiHeadAttention(d, heads)
        self.ln2 = nn.LayerNorm(d)
        self.up = nn.Linear(d, 4 * d)
        self.down = nn.Linear(4 * d, d)

    def __call__(self, x, mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, mask)
        return x + self.down(nn.gelu(self.up(self.ln2(x))))


class CharLM(nn.Module):
    def __init__(self, d=32, heads=4, n_layers=1):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, d)
        self.pos = nn.Embedding(CTX, d)
        self.layers = [Block(d, heads) for _ in range(n_layers)]
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, VOCAB)

    def __call__(self, toks):
        L = toks.shape[1]
        x = self.emb(toks) + self.pos(mx.arange(L))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        for l in self.layers:
            x = l(x, mask)
        return self.head(self.norm(x))


def default_loss(model, toks, lengths):
    inputs, targets = toks[:, :-1], toks[:, 1:]
    logits = model(inputs)
    steps = mx.arange(1, targets.shape[1] + 1)
    mask = steps[None, :] < lengths[:, None]
    ce = nn.losses.cross_entropy(logits, targets) * mask
    ntoks = mask.sum()
    return ce.astype(mx.float32).sum() / ntoks, ntoks


def average_gradients(grads):
    world = mx.distributed.init()
    if world.size() == 1:
        return grads
    return tree_map(lambda g: mx.distributed.all_sum(g) / world.size(), grads)


def evaluate(model, dataset, batch_size, loss=default_loss):
    all_losses = mx.array(0.0)
    ntokens = mx.array(0)
    for toks, lens in iterate_batches(dataset, batch_size):
        l, n = loss(model, toks, lens)
        all_losses += l * n
        ntokens += n
        mx.eval(all_losses, ntokens)
    all_losses = mx.distributed.all_sum(all_losses, stream=mx.cpu)
    ntokens = mx.distributed.all_sum(ntokens, stream=mx.cpu)
    return (all_losses / ntokens).item()


def train(model, optimizer, train_set, val_set, iters, batch_size=32,
          steps_per_report=25, steps_per_eval=50, tag="train"):
    mx.set_wired_limit(mx.metal.device_info()["max_recommended_working_set_size"])
    print(f"Starting training..., iters: {iters}")
    world = mx.distributed.init()
    rank = world.rank()

    state = [model.state, optimizer.state, mx.random.state]
    loss_value_and_grad = nn.value_and_grad(model, default_loss)

    @partial(mx.compile, inputs=state, outputs=state)
    def step(toks, lens):
        (lvalue, ntoks), grad = loss_value_and_grad(model, toks, lens)
        grad = average_gradients(grad)
        optimizer.update(model, grad)
        return lvalue, ntoks

    model.train()
    losses = 0.0
    n_tokens = 0
    steps = 0
    tic = time.perf_counter()
    for it, (toks, lens) in zip(range(1, iters + 1), iterate_batches(train_set, batch_size, train=True)):
        if it == 1 or it % steps_per_eval == 0 or it == iters:
            t0 = time.perf_counter()
            val_loss = evaluate(model, val_set, batch_size)
            model.train()
            if rank == 0:
                print(f"[{tag}] Iter {it}: Val loss {val_loss:.3f}, Val took {time.perf_counter() - t0:.3f}s", flush=True)
        lvalue, ntoks = step(toks, lens)
        mx.eval(state, lvalue, ntoks)
        losses += lvalue.item()
        n_tokens += ntoks.item()
        steps += 1
        if it % steps_per_report == 0 or it == iters:
            elapsed = time.perf_counter() - tic
            lr = optimizer.learning_rate.item()
            if rank == 0:
                print(
                    f"[{tag}] Iter {it}: Train loss {losses / steps:.3f}, Learning Rate {lr:.3e}, "
                    f"It/sec {steps / elapsed:.3f}, Tokens/sec {n_tokens / elapsed:.1f}",
                    flush=True,
                )
            losses, n_tokens, steps = 0.0, 0, 0
            tic = time.perf_counter()


model = CharLM()
mx.eval(model.parameters())

# stage 1: full pretraining on harbour chatter
chatter_train, chatter_val = make_set(chatter_line, 512), make_set(chatter_line, 64)
opt1 = optim.AdamW(learning_rate=optim.cosine_decay(3e-3, 60, end=3e-4), weight_decay=0.01)
train(model, opt1, chatter_train, chatter_val, iters=60, batch_size=16, steps_per_report=10, steps_per_eval=30, tag="pretrain")

# stage 2: freeze the base, LoRA on attention projections and the MLP
log_train, log_val = make_set(log_line, 512), make_set(log_line, 64)
model.freeze()
for blk in model.layers:
    blk.attn.query_proj = LoRALinear(blk.attn.query_proj)
    blk.attn.value_proj = LoRALinear(blk.attn.value_proj)
    blk.up = LoRALinear(blk.up)
    blk.down = LoRALinear(blk.down)
mx.eval(model.parameters())
n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
n_total = sum(v.size for _, v in tree_flatten(model.parameters()))
print(f"Trainable parameters: {100 * n_train / n_total:.3f}% ({n_train / 1e3:.3f}K/{n_total / 1e3:.3f}K)")
warm = optim.linear_schedule(0.0, 3e-3, 20)
opt2 = optim.Adam(learning_rate=optim.join_schedules([warm, optim.cosine_decay(3e-3, 100)], [20]))
train(model, opt2, log_train, log_val, iters=120, batch_size=16, steps_per_report=10, steps_per_eval=40, tag="lora")

print(f"Test loss {evaluate(model, make_set(log_line, 64), 16):.3f}, Test ppl {math.exp(evaluate(model, make_set(log_line, 64), 16)):.3f}.")
