# Tiny SiLLM-style LoRA fine-tune: model.loss() is used by the trainer via nn.value_and_grad.
import logging
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s - %(levelname)s - %(message)s")
logger = logging.getLogger("sillm")

VOCAB, DIM, SEQ = 48, 64, 16


class LoRALinear(nn.Module):
    def __init__(self, linear, rank=4, alpha=8.0):
        super().__init__()
        self.linear = linear
        din = linear.weight.shape[1]
        dout = linear.weight.shape[0]
        self.scale = alpha / rank
        self.lora_a = mx.random.uniform(-1 / math.sqrt(din), 1 / math.sqrt(din), (din, rank))
        self.lora_b = mx.zeros((rank, dout))

    def __call__(self, x):
        return self.linear(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


class Block(nn.Module):
    def __init__(self, dim, heads=4):
        super().__init__()
        self.attention_norm = nn.RMSNorm(dim)
        self.attention = nn.MultiHeadAttention(dim, heads)
        self.ffn_norm = nn.RMSNorm(dim)
        self.w1 = nn.Linear(dim, 2 * dim, bias=False)
        self.w2 = nn.Linear(2 * dim, dim, bias=False)

    def __call__(self, x, mask):
        y = self.attention_norm(x)
        h = x + self.attention(y, y, y, mask)
        return h + self.w2(nn.silu(self.w1(self.ffn_norm(h))))


class BaseModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok_embeddings = nn.Embedding(VOCAB, DIM)
        self.layers = [Block(DIM) for _ in range(2)]
        self.norm = nn.RMSNorm(DIM)
        self.output = nn.Linear(DIM, VOCAB, bias=False)

    def __call__(self, inputs, cache=None):
        mask = nn.MultiHeadAttention.create_additive_causal_mask(inputs.shape[1])
        h = self.tok_embeddings(inputs)
        for layer in self.layers:
            h = layer(h, mask)
        return self.output(self.norm(h))

    def loss(self, inputs, targets, loss_masks):
        # Run model on inputs
        logits = self.__call__(inputs)
        logits = logits.astype(mx.float32)

        # Calculate the loss
        cross_entropy_loss = nn.losses.cross_entropy(logits, targets) * loss_masks
        num_tokens = loss_masks.sum()
        loss_value = cross_entropy_loss.sum() / num_tokens

        return loss_value, None, num_tokens


def make_dataset(n, key):
    # sequences follow t[i+1] = (5 * t[i] + 3) % VOCAB, with random padding at the end
    start = mx.random.randint(0, VOCAB, (n,), key=key)
    cols = [start]
    for _ in range(SEQ):
        cols.append((5 * cols[-1] + 3) % VOCAB)
    toks = mx.stack(cols, axis=1)
    lengths = mx.random.randint(SEQ // 2, SEQ + 1, (n,), key=mx.random.split(key)[0])
    masks = (mx.arange(SEQ)[None, :] < lengths[:, None]).astype(mx.float32)
    return toks[:, :-1], toks[:, 1:], masks


def iterate_batches(data, batch_size):
    inputs, targets, masks = data
    for i in range(0, inputs.shape[0] - batch_size + 1, batch_size):
        yield inputs[i:i + batch_size], targets[i:i + batch_size], masks[i:i + batch_size]


mx.random.seed(3)
model = BaseModel()
# freeze the base weights and apply LoRA to attention projections
model.freeze()
for layer in model.layers:
    layer.attention.query_proj = LoRALinear(layer.attention.query_proj)
    layer.attention.value_proj = LoRALinear(layer.attention.value_proj)
    layer.w2 = LoRALinear(layer.w2)
model.output = LoRALinear(model.output)
for name, mod in model.named_modules():
    if isinstance(mod, LoRALinear):
        mod.linear.freeze()

n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
logger.info(f"Initialized LoRA with {n_train} trainable parameters")

train = make_dataset(256, mx.random.key(1))
valid = make_dataset(64, mx.random.key(2))

optimizer = optim.Adam(learning_rate=3e-3)
loss_value_and_grad = nn.value_and_grad(model, model.loss)


def evaluate(data, batch_size):
    losses, ntoks = 0.0, 0.0
    for batch in iterate_batches(data, batch_size):
        l, _, n = model.loss(*batch)
        losses += (l * n).item()
        ntoks += n.item()
    return losses / ntoks


batch_size = 4
epochs = 3
iterations = train[0].shape[0] // batch_size
logger.info(f"Training the model for {epochs} epochs of {iterations} batch iterations with batch size {batch_size}")
logger.info(f"Validation loss before training: {evaluate(valid, batch_size):.4f}")
tic = time.perf_counter()
step = 0
for epoch in range(epochs):
    acc, acc_tok = 0.0, 0.0
    for batch in iterate_batches(train, batch_size):
        (loss_value, reward, num_tokens), grad = loss_value_and_grad(*batch)
        optimizer.update(model, grad)
        mx.eval(model.parameters(), optimizer.state, loss_value)
        acc += loss_value.item() * num_tokens.item()
        acc_tok += num_tokens.item()
        step += 1
        if step % 16 == 0:
            toc = time.perf_counter()
            logger.info(f"#{step}: Training loss = {acc / acc_tok:.3f}, It/sec = {16 / (toc - tic):.2f}, Tok/sec = {acc_tok / (toc - tic):.1f}")
            acc, acc_tok = 0.0, 0.0
            tic = time.perf_counter()
    logger.info(f"Epoch {epoch + 1}: Validation loss = {evaluate(valid, batch_size):.4f}")
logger.info("Finished training")
