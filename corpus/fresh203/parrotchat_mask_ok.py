# Tiny chat-style fine-tune: "user" gives 2-4 digits, "assistant" answers
# (3 * first + 1) mod 10. Batches are built like a messages dataset: prompt
# tokens, then the full conversation, padded with the eos id, and a loss mask
# that keeps only the assistant tokens.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

BOS, EOS, USER, ASSIST = 1, 2, 3, 4
DIGIT0 = 10
VOCAB = 24

rng = np.random.default_rng(7)


def make_entry():
    n = int(rng.integers(2, 5))
    ds = [int(x) for x in rng.integers(0, 10, size=n)]
    ans = (3 * ds[0] + 1) % 10
    prompt = [BOS, USER] + [DIGIT0 + d for d in ds]
    full = prompt + [ASSIST, DIGIT0 + ans, EOS]
    return prompt, full, ans


class DatasetMessages:
    def __init__(self, n):
        self.pad_id = EOS
        self._data = [make_entry() for _ in range(n)]

    def iterate_batches(self, batch_size, train=False):
        while True:
            indices = np.arange(len(self._data))
            if train:
                indices = rng.permutation(indices)
            for i in range(0, len(indices) - batch_size + 1, batch_size):
                prompts = [self._data[indices[i + j]][0] for j in range(batch_size)]
                batch = [self._data[indices[i + j]][1] for j in range(batch_size)]
                lengths = [len(x) for x in batch]
                batch_arr = np.full((batch_size, max(lengths)), self.pad_id, np.int32)
                for j in range(batch_size):
                    batch_arr[j, : lengths[j]] = batch[j]
                batch = mx.array(batch_arr)

                inputs = batch[:, :-1]
                targets = batch[:, 1:]

                lengths = mx.array(lengths)
                prompt_lengths = mx.array([len(x) for x in prompts])
                loss_masks = mx.logical_and(
                    mx.arange(inputs.shape[1])[None, :] >= prompt_lengths[:, None],
                    mx.arange(inputs.shape[1])[None, :] < lengths[:, None] - 1
                )

                yield inputs, targets, loss_masks


class TinyLM(nn.Module):
    def __init__(self, dim=48, layers=2, heads=4, max_len=16):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, dim)
        self.pos = nn.Embedding(max_len, dim)
        self.blocks = [nn.TransformerEncoderLayer(dim, heads, 4 * dim) for _ in range(layers)]
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, VOCAB)

    def __call__(self, x):
        T = x.shape[1]
        h = self.tok(x) + self.pos(mx.arange(T))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(T)
        for b in self.blocks:
            h = b(h, mask)
        return self.head(self.norm(h))

    def loss(self, inputs, targets, loss_masks):
        logits = self(inputs).astype(mx.float32)
        ce = nn.losses.cross_entropy(logits, targets) * loss_masks
        ntoks = loss_masks.sum()
        return ce.sum() / ntoks, ntoks


def answer_accuracy(model, entries):
    hits = 0
    by_len = {}
    for prompt, full, ans in entries:
        by_len.setdefault(len(prompt), []).append((prompt + [ASSIST], ans))
    for group in by_len.values():
        x = mx.array([p for p, _ in group])
        pred = mx.argmax(model(x)[:, -1], axis=-1) - DIGIT0
        hits += int((pred == mx.array([a for _, a in group])).sum().item())
    return hits / len(entries)


mx.random.seed(0)
model = TinyLM()
mx.eval(model.parameters())
train_set = DatasetMessages(2000)
val_entries = [make_entry() for _ in range(200)]
optimizer = optim.Adam(learning_rate=1e-3)


def loss_fn(m, *batch):
    return m.loss(*batch)


loss_value_and_grad = nn.value_and_grad(model, loss_fn)

start = time.time()
losses, toks = [], 0
for n, batch in zip(range(200), train_set.iterate_batches(32, train=True)):
    (lvalue, ntoks), grad = loss_value_and_grad(model, *batch)
    optimizer.update(model, grad)
    mx.eval(model.parameters(), optimizer.state, lvalue, ntoks)
    losses.append(lvalue.item())
    toks += ntoks.item()
    if (n + 1) % 20 == 0:
        stop = time.time()
        model.eval()
        acc = answer_accuracy(model, val_entries)
        model.train()
        print(f"#{n + 1}:\tTraining loss    {np.mean(losses):.3f}\t{toks / (stop - start):.1f} tok/sec\tanswer acc {acc:.3f}", flush=True)
        losses, toks = [], 0
        start = time.time()

model.eval()
print(f"final answer accuracy on held-out prompts: {answer_accuracy(model, val_entries):.3f}")
