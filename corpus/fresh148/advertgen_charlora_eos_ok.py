# Tiny char-level "AdvertiseGen" fine-tune in MLX: keyword list -> ad phrase.
# Loop modeled on the MiniCPM mlx_finetune.py LoRA script (iterate_batches / loss / train).
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

np.random.seed(2024)
mx.random.seed(2024)

COLORS = ["red", "blue", "green", "black", "white", "pink", "grey", "gold"]
ITEMS = ["coat", "dress", "skirt", "shirt", "scarf", "boots", "jeans", "hat"]
STYLES = ["slim", "loose", "retro"]


class CharTokenizer:
    def __init__(self):
        chars = sorted(set("abcdefghijklmnopqrstuvwxyz #*:|" + "<用户>" + "<AI>"))
        self.pad_id, self.eos_token_id = 0, 1
        self.stoi = {c: i + 2 for i, c in enumerate(chars)}
        self.itos = {i: c for c, i in self.stoi.items()}
        self.vocab_size = len(chars) + 2

    def encode(self, s):
        return [self.stoi[c] for c in s]

    def decode(self, ids):
        return "".join(self.itos.get(i, "?") for i in ids)


def make_split(pairs):
    data = []
    for c, it, st in pairs:
        data.append({"prompt": "", "input": f"type#{it}*color#{c}*style#{st}",
                     "output": f"{st} {c} {it}"})
    return data


class ConversationDataset:
    def __init__(self, rows):
        self._data = rows

    def __getitem__(self, idx):
        entry = self._data[idx]
        return entry.get("prompt", ""), entry.get("input", ""), entry.get("output", "")

    def __len__(self):
        return len(self._data)


class CharLM(nn.Module):
    def __init__(self, vocab, dims=64, layers=2, heads=4, max_len=64):
        super().__init__()
        self.embed = nn.Embedding(vocab, dims)
        self.pos = nn.Embedding(max_len, dims)
        self.blocks = nn.TransformerEncoder(layers, dims, heads, mlp_dims=128)
        self.out = nn.Linear(dims, vocab)

    def __call__(self, x):
        L = x.shape[1]
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        h = self.embed(x) + self.pos(mx.arange(L))
        h = self.blocks(h, mask)
        return self.out(h), None


def loss(model, inputs, targets, lengths):
    logits, _ = model(inputs)
    logits = logits.astype(mx.float32)
    length_mask = mx.arange(inputs.shape[1])[None, :] < lengths[:, None]
    ce = nn.losses.cross_entropy(logits, targets) * length_mask
    ntoks = length_mask.sum()
    ce = ce.sum() / ntoks
    return ce, ntoks


def iterate_batches(dset, tokenizer, batch_size, train=False):
    while True:
        indices = np.arange(len(dset))
        if train:
            indices = np.random.permutation(indices)
        for i in range(0, len(indices) - batch_size + 1, batch_size):
            batch_samples = [dset[indices[i + j]] for j in range(batch_size)]
            batch_format_text = ['<用户>{}<AI>{}'.format(s[1] + s[0], s[2]) for s in batch_samples]
            batch = [tokenizer.encode(s) + [tokenizer.eos_token_id] for s in batch_format_text]
            lengths = [len(x) for x in batch]
            batch_arr = np.zeros((batch_size, max(lengths)), np.int32)
            for j in range(batch_size):
                batch_arr[j, : lengths[j]] = batch[j]
            batch = mx.array(batch_arr)
            yield batch[:, :-1], batch[:, 1:], mx.array(lengths)
        if not train:
            break


def evaluate(model, dataset, loss_fn, tokenizer, batch_size):
    all_losses, ntokens = [], 0
    for inputs, targets, lengths in iterate_batches(dataset, tokenizer, batch_size):
        l, t = loss_fn(model, inputs, targets, lengths)
        all_losses.append((l * t).item())
        ntokens += t.item()
    return np.sum(all_losses) / ntokens


def generate_string(model, prompt, tokenizer, max_tokens=40):
    ids = tokenizer.encode(prompt)
    out = []
    for _ in range(max_tokens):
        logits, _ = model(mx.array(ids + out)[None])
        nxt = mx.argmax(logits[0, -1]).item()
        if nxt == tokenizer.eos_token_id:
            break
        out.append(nxt)
    return tokenizer.decode(out)


def train(model, train_set, val_set, optimizer, loss_fn, tokenizer, iters, batch_size):
    loss_value_and_grad = nn.value_and_grad(model, loss_fn)
    losses, n_tokens = [], 0
    start = time.perf_counter()
    for it, batch in zip(range(iters), iterate_batches(train_set, tokenizer, batch_size, train=True)):
        (lvalue, toks), grad = loss_value_and_grad(model, *batch)
        optimizer.update(model, grad)
        mx.eval(model.parameters(), optimizer.state, lvalue)
        losses.append(lvalue.item())
        n_tokens += toks.item()
        if (it + 1) % 20 == 0:
            stop = time.perf_counter()
            print(f"Iter {it + 1}: Train loss {np.mean(losses):.3f}, "
                  f"It/sec {20 / (stop - start):.3f}, Tokens/sec {n_tokens / (stop - start):.3f}")
            losses, n_tokens = [], 0
            start = time.perf_counter()
        if it == 0 or (it + 1) % 80 == 0:
            stop = time.perf_counter()
            val_loss = evaluate(model, val_set, loss_fn, tokenizer, batch_size)
            print(f"Iter {it + 1}: Val loss {val_loss:.3f}, Val took {time.perf_counter() - stop:.3f}s")
            start = time.perf_counter()


if __name__ == "__main__":
    combos = [(c, it, st) for c in COLORS for it in ITEMS for st in STYLES]
    order = np.random.permutation(len(combos))
    combos = [combos[i] for i in order]
    train_rows, valid_rows, test_rows = make_split(combos[:160]), make_split(combos[160:176]), make_split(combos[176:])
    tokenizer = CharTokenizer()
    train_set, valid_set = ConversationDataset(train_rows), ConversationDataset(valid_rows)

    model = CharLM(tokenizer.vocab_size)
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=3e-3)
    print("Training")
    train(model, train_set, valid_set, opt, loss, tokenizer, iters=160, batch_size=16)

    print("Testing")
    hits, gen_lens = 0, []
    for k, row in enumerate(test_rows):
        text = generate_string(model, "<用户>{}<AI>".format(row["input"] + row["prompt"]), tokenizer)
        hits += int(text == row["output"])
        gen_lens.append(len(text))
        if k < 3:
            print(f"  {row['input']!r} -> {text!r} (want {row['output']!r})")
    print(f"Test exact match {hits}/{len(test_rows)}, mean generated length {np.mean(gen_lens):.1f} chars")
