"""Completion-only chat fine-tune of a tiny char-level transformer (Llama-3 style template).

Records are {"input": question, "output": answer}; loss is taken only on the answer span,
as in a completion-only SFT recipe.
"""
import random

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

SPECIALS = ["<|pad|>", "<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
CHARS = list("abcdefghijklmnopqrstuvwxyz0123456789 ?:\n")


class CharTokenizer:
    def __init__(self):
        self.vocab = SPECIALS + CHARS
        self.stoi = {t: i for i, t in enumerate(self.vocab)}
        self.eot_id = self.stoi["<|eot_id|>"]

    def encode(self, text):
        ids, i = [], 0
        while i < len(text):
            for sp in SPECIALS:
                if text.startswith(sp, i):
                    ids.append(self.stoi[sp])
                    i += len(sp)
                    break
            else:
                ids.append(self.stoi[text[i]])
                i += 1
        return ids

    def decode(self, ids):
        return "".join(self.vocab[i] for i in ids)


LLAMA3_DELIMITERS = {
    "PREAMBLE": "<|begin_of_text|>",
    "PREQUERY": "<|start_header_id|>user<|end_header_id|>\n\n",
    "POSTQUERY": "<|eot_id|>",
}


class TrainingRecordHandler:
    @classmethod
    def get_input(cls, record) -> str:
        d = cls.get_delimiters()
        return d["PREAMBLE"] + d["PREQUERY"] + record["input"] + d["POSTQUERY"]

    @classmethod
    def get_output(cls, record) -> str:
        return f"<|start_header_id|>assistant<|end_header_id|>\n\noutput<|eot_id|>"

    @classmethod
    def get_delimiters(cls):
        return LLAMA3_DELIMITERS


prompt_formatter = TrainingRecordHandler


def create_delineated_batches(input_text, output_text, tokenizer, max_seq_length=64):
    batch_size = len(input_text)
    input_batch = [tokenizer.encode(r) for r in input_text]
    output_batch = [tokenizer.encode(r) for r in output_text]
    input_lengths = [len(x) for x in input_batch]
    output_lengths = [len(x) for x in output_batch]
    full_labels = [input_batch[i] + output_batch[i] for i in range(batch_size)]
    lengths = [len(x) for x in full_labels]
    pad_to = 8
    max_len = min(pad_to * ((max(lengths) + pad_to - 1) // pad_to), max_seq_length)
    batch_arr = np.zeros((batch_size, max_len), np.int32)
    adjusted = []
    for j in range(batch_size):
        end = input_lengths[j] + min(output_lengths[j], max_len - input_lengths[j])
        adjusted.append(end)
        batch_arr[j, :end] = full_labels[j][:end]
    return mx.array(batch_arr), mx.array(input_lengths), mx.array(adjusted)


def completions_only_loss(model, inputs, input_lengths, lengths):
    shifted_inputs = inputs[:, :-1]
    shifted_labels = inputs[:, 1:]
    logits = model(shifted_inputs).astype(mx.float32)
    width = shifted_inputs.shape[1]
    tok = mx.arange(width)[None, :]
    mask = mx.logical_and(tok >= input_lengths[:, None], tok < lengths[:, None])
    ce = nn.losses.cross_entropy(logits, shifted_labels) * mask
    ntoks = mask.sum()
    return ce.sum() / ntoks, ntoks


class TinyLM(nn.Module):
    def __init__(self, vocab, dims=64, heads=4, layers=1, max_len=64):
        super().__init__()
        self.tok = nn.Embedding(vocab, dims)
        self.pos = nn.Embedding(max_len, dims)
        self.blocks = nn.TransformerEncoder(layers, dims, heads, mlp_dims=4 * dims, norm_first=True)
        self.head = nn.Linear(dims, vocab)

    def __call__(self, x):
        T = x.shape[1]
        h = self.tok(x) + self.pos(mx.arange(T))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(T)
        return self.head(self.blocks(h, mask))


def iterate_batches(dataset, tokenizer, batch_size):
    while True:
        order = np.random.permutation(len(dataset))
        for s in range(0, len(order) - batch_size + 1, batch_size):
            recs = [dataset[k] for k in order[s:s + batch_size]]
            inp = [prompt_formatter.get_input(r) for r in recs]
            out = [prompt_formatter.get_output(r) for r in recs]
            yield create_delineated_batches(inp, out, tokenizer)


def answer(model, tokenizer, record, max_new=8):
    lead = prompt_formatter.get_input(record) + "<|start_header_id|>assistant<|end_header_id|>\n\n"
    ids = tokenizer.encode(lead)
    out = []
    for _ in range(max_new):
        logits = model(mx.array([ids]))[0, -1]
        nxt = int(mx.argmax(logits).item())
        if nxt == tokenizer.eot_id:
            break
        out.append(nxt)
        ids.append(nxt)
    return tokenizer.decode(out)


def main():
    random.seed(7)
    np.random.seed(7)
    mx.random.seed(7)
    letters = "abcdefghijklmnopqrstuvwxyz"
    shelves = ["saddle", "bridle", "girth", "halter"]
    dataset = []
    for s in shelves:
        for k in range(8):
            code = "".join(random.choice(letters) for _ in range(4))
            dataset.append({"input": f"bin for {s} {k}?", "output": code})
    print(f"records: {len(dataset)}  example: {dataset[0]}")

    tokenizer = CharTokenizer()
    model = TinyLM(len(tokenizer.vocab))
    mx.eval(model.parameters())
    optimizer = optim.Adam(learning_rate=3e-3)
    loss_and_grad = nn.value_and_grad(model, lambda m, *b: completions_only_loss(m, *b)[0])

    batches = iterate_batches(dataset, tokenizer, batch_size=16)
    steps = 300
    running = 0.0
    for it in range(1, steps + 1):
        inputs, in_len, lens = next(batches)
        loss, grads = loss_and_grad(model, inputs, in_len, lens)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state, loss)
        running += loss.item()
        if it % 50 == 0:
            print(f"iter {it:4d}  train loss {running / 50:.4f}")
            running = 0.0

    model.eval()
    hits = 0
    for r in dataset:
        hits += answer(model, tokenizer, r) == r["output"]
    for r in dataset[:4]:
        print(f"  Q: {r['input']!r}  ->  {answer(model, tokenizer, r)!r}  (ref {r['output']!r})")
    print(f"exact-match recall: {hits}/{len(dataset)} = {hits / len(dataset):.3f}")


if __name__ == "__main__":
    main()
