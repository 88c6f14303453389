import mlx.core as mx
import mlx.nn as nn
from mlx.optimizers import AdamW
import numpy as np
import time
import resource

# tiny "Esperanto" corpus: word stems + grammatical endings, so masked endings
# can be predicted from the stem before them
rng = np.random.default_rng(0)
stems = list(range(5, 45))
endings = {"o": 45, "a": 46, "j": 47, "n": 48, "as": 49, "is": 50, "os": 51}
PAD, CLS, MASK = 0, 1, 2
vocab_size = 52


def make_sentence(max_length):
    toks = [CLS]
    while len(toks) < max_length - 2:
        s = int(rng.choice(stems))
        toks.append(s)
        if s < 20:
            toks.append(endings["o"])
        elif s < 32:
            toks.append(endings["a"])
        else:
            toks.append([endings["as"], endings["is"], endings["os"]][s % 3])
    toks = toks[:max_length]
    return toks + [PAD] * (max_length - len(toks))


class MLXDataset:
    def __init__(self, n, max_length):
        self.ids = np.array([make_sentence(max_length) for _ in range(n)], dtype=np.int32)

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, sl):
        ids = self.ids[sl]
        return [({'input_ids': mx.array(r[None]), 'attention_mask': mx.array((r[None] != PAD).astype(np.int32))})
                for r in ids]


class MLXDataloader:
    def __init__(self, dataset, batch_size, shuffle):
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle

    def __iter__(self):
        for i in range(0, len(self.dataset), self.batch_size):
            yield self.dataset[i:i + self.batch_size]


class TinyBert(nn.Module):
    def __init__(self, vocab, dims=64, max_len=32):
        super().__init__()
        self.tok = nn.Embedding(vocab, dims)
        self.pos = nn.Embedding(max_len, dims)
        self.typ = nn.Embedding(2, dims)
        self.encoder = nn.TransformerEncoder(2, dims, 4, mlp_dims=128)
        self.norm = nn.LayerNorm(dims)
        self.head = nn.Linear(dims, vocab)

    def __call__(self, input_ids, token_type_ids, attention_mask):
        L = input_ids.shape[1]
        x = self.tok(input_ids) + self.pos(mx.arange(L)) + self.typ(token_type_ids)
        mask = mx.where(attention_mask[:, None, None, :] == 1, 0.0, -1e9)
        h = self.encoder(x, mask)
        return self.head(self.norm(h)), h


def mask_tokens(inputs, mlm_probability=0.15):
    def mask_tokens_helper(inputs, mlm_probability=0.15):
        labels = mx.array(inputs['input_ids'])
        probability_matrix = mx.random.uniform(shape=labels.shape) < mlm_probability
        masked_indices = probability_matrix & (labels > MASK)
        labels = mx.where(masked_indices, labels, -100)
        replace_mask = mx.random.uniform(shape=labels.shape) < 0.8
        inputs['input_ids'] = mx.where(replace_mask & masked_indices, MASK, inputs['input_ids'])
        random_mask = mx.random.uniform(shape=labels.shape) < 0.1
        random_indices = random_mask & masked_indices & ~replace_mask
        random_words = mx.random.randint(low=3, high=vocab_size, shape=labels.shape)
        inputs['input_ids'] = mx.where(random_indices, random_words, inputs['input_ids'])
        return inputs, labels
    return [mask_tokens_helper(inp, mlm_probability) for inp in inputs]


def mlm_loss_fn(predictions, labels):
    valid = labels != -100
    ce = nn.losses.cross_entropy(predictions, mx.where(valid, labels, 0), reduction='none')
    return mx.sum(ce * valid) / mx.maximum(mx.sum(valid), 1)


def train_one_epoch(model, data_loader, optimizer):
    def compute_loss():
        predictions, _ = model(input_ids, token_type_ids, attention_masks)
        return mlm_loss_fn(predictions, labels)

    losses = []
    for batch in data_loader:
        out = mask_tokens(batch, mlm_probability)
        input_ids = mx.stack([item[0]['input_ids'] for item in out], axis=0).squeeze(axis=1)
        attention_masks = mx.stack([item[0]['attention_mask'] for item in out], axis=0).squeeze(axis=1)
        labels = mx.stack([item[1] for item in out], axis=0).squeeze(axis=1)
        token_type_ids = mx.zeros(input_ids.shape, dtype=mx.int32)
        loss_and_grads_fn = nn.value_and_grad(model, compute_loss)
        loss, grads = loss_and_grads_fn()
        # Update model parameters
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state)
        losses.append(loss.item())
    return sum(losses) / len(losses)


if __name__ == "__main__":
    max_length = 24
    mlm_probability = 0.15
    batch_size = 32
    epochs = 8
    mx.random.seed(0)
    model = TinyBert(vocab_size, max_len=max_length)
    model.train()
    dataset = MLXDataset(192, max_length)
    dataloader = MLXDataloader(dataset, batch_size=batch_size, shuffle=True)
    optimizer = AdamW(learning_rate=3e-3)
    start = time.time()
    for epoch in range(epochs):
        t = time.time()
        avg = train_one_epoch(model, dataloader, optimizer)
        print("Epoch", epoch + 1, "done", f"loss {avg:.4f}", f"({time.time() - t:.2f}s)", f"maxrss {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB")
    end = time.time()
    print("Time taken:", end - start)
