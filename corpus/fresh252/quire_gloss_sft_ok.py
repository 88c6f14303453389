# Completion-only fine-tuning of a tiny character LM on a glossary task:
# each prompt is a short code word, the completion is its "gloss" (every
# letter moved one step along the alphabet). Only completion tokens are scored.
import time
from typing import List, Tuple

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

np.random.seed(0)
mx.random.seed(0)

LETTERS = "abcdefghij"


class CharTokenizer:
    def __init__(self):
        self.itos = ["<pad>", "<s>", "</s>"] + list(LETTERS) + list("QA:=")
        self.stoi = {c: i for i, c in enumerate(self.itos)}
        self.pad_token_id = 0
        self.bos_token_id = 1
        self.eos_token_id = 2

    @property
    def vocab_size(self):
        return len(self.itos)

    def encode(self, text: str) -> List[int]:
        return [self.bos_token_id] + [self.stoi[c] for c in text]

    def decode(self, ids) -> str:
        return "".join(self.itos[i] for i in ids if i > 2)

    def apply_chat_template(self, messages, add_generation_prompt=True, tokenize=True):
        text = ""
        for m in messages:
            text += ("Q:" if m["role"] == "user" else "=A:") + m["content"]
        return self.encode(text) if tokenize else text


class CompletionsDataset:
    def __init__(self, pairs, tokenizer):
        self._pairs = pairs
        self.tokenizer = tokenizer

    def get_prompt_and_completion(self, idx):
        return self._pairs[idx]

    def __getitem__(self, idx):
        prompt, completion = self._pairs[idx]
        return self.tokenizer.apply_chat_template(
            [
                {"role": "user", "content": prompt},
                {"role": "assistant", "content": completion},
            ],
            tokenize=False,
        )

    def __len__(self):
        return len(self._pairs)


def make_pairs(n, rng):
    pairs = []
    for _ in range(n):
        k = rng.integers(3, 6)
        word = "".join(rng.choice(list(LETTERS[:-1]), size=k))
        gloss = "".join(LETTERS[LETTERS.index(c) + 1] for c in word)
        pairs.append((word, gloss))
    return pairs


def input_masked_loss(model, inputs, input_lengths, lengths):
    shifted_inputs = inputs[:, :-1]
    shifted_labels = inputs[:, 1:]
    logits = model(shifted_inputs)
    logits = logits.astype(mx.float32)

    mask_width = shifted_inputs.shape[1]
    token_indices = mx.arange(mask_width)[None, :]
    mask = mx.logical_and(
        token_indices >= input_lengths[:, None], token_indices < lengths[:, None]
    )

    ce = nn.losses.cross_entropy(logits, shifted_labels) * mask
    ntoks = mask.sum()
    ce = ce.sum() / ntoks
    return ce, ntoks


def contains(small_list: List, big_list: List) -> Tuple[int, int]:
    small_list_length = len(small_list)
    for ind in (i for i, e in enumerate(big_list) if e == small_list[0]):
        if big_list[ind : ind + small_list_length] == small_list:
            return ind, ind + small_list_length - 1


def no_bos(sequence: List, bos: int) -> List:
    return sequence if sequence[0] != bos else sequence[1:]


def input_length(input_text: str, output_text: str, tokenizer) -> int:
    message = [
        {"role": "user", "content": input_text},
        {"role": "assistant", "content": output_text},
    ]
    output_tokens = no_bos(tokenizer.encode(output_text), tokenizer.bos_token_id)
    full_sequence = tokenizer.apply_chat_template(
        message, add_generation_prompt=True, tokenize=True
    )
    output_begin, output_end = contains(output_tokens, full_sequence)
    return output_begin


def iterate_delineated_batches(dataset, tokenizer, batch_size, max_seq_length, train=False):
    idx = sorted(range(len(dataset)), key=lambda i: len(dataset[i]))
    if len(dataset) < batch_size:
        raise ValueError(
            f"Dataset must have at least batch_size={batch_size}"
            f" examples but only has {len(dataset)}."
        )
    step = mx.distributed.init().size()
    if batch_size % step != 0:
        raise ValueError("The batch size must be divisible by the number of workers")
    batch_idx = [
        idx[i : i + batch_size : step]
        for i in range(0, len(idx) - batch_size + 1, batch_size)
    ]
    while True:
        indices = np.random.permutation(len(batch_idx))
        for i in indices:
            prompt_lengths = []
            batch = []
            for j in batch_idx[i]:
                prompt, completion = dataset.get_prompt_and_completion(j)
                prompt_lengths.append(input_length(prompt, completion, tokenizer))
                full_sequence = tokenizer.encode(dataset[j])
                if full_sequence[-1] != tokenizer.eos_token_id:
                    full_sequence.append(tokenizer.eos_token_id)
                batch.append(full_sequence)

            lengths = [len(x) for x in batch]

            if max(lengths) > max_seq_length:
                print(
                    f"[WARNING] Some sequences are longer than {max_seq_length} tokens. "
                    f"The longest sentence {max(lengths)} will be truncated to {max_seq_length}."
                )

            pad_to = 8
            max_length_in_batch = pad_to * ((max(lengths) + pad_to - 1) // pad_to)
            max_length_in_batch = min(max_length_in_batch, max_seq_length)

            batch_arr = np.zeros((batch_size // step, max_length_in_batch), np.int32)

            for j in range(batch_size // step):
                truncated_length = min(lengths[j], max_seq_length)
                batch_arr[j, :truncated_length] = batch[j][:truncated_length]
                lengths[j] = truncated_length

            yield mx.array(batch_arr), mx.array(prompt_lengths), mx.array(lengths)

        if not train:
            break


class TinyLM(nn.Module):
    def __init__(self, vocab, dims=32, heads=2, layers=1, max_len=32):
        super().__init__()
        self.embed = nn.Embedding(vocab, dims)
        self.pos = nn.Embedding(max_len, dims)
        self.blocks = nn.TransformerEncoder(layers, dims, heads, mlp_dims=4 * dims)
        self.head = nn.Linear(dims, vocab)

    def __call__(self, x):
        L = x.shape[1]
        h = self.embed(x) + self.pos(mx.arange(L))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        return self.head(self.blocks(h, mask))


def completion_token_accuracy(model, inputs, input_lengths, lengths):
    logits = model(inputs[:, :-1])
    pred = mx.argmax(logits, axis=-1)
    idx = mx.arange(inputs.shape[1] - 1)[None, :]
    mask = mx.logical_and(idx >= input_lengths[:, None], idx < lengths[:, None])
    return ((pred == inputs[:, 1:]) * mask).sum(), mask.sum()


def main():
    rng = np.random.default_rng(7)
    tok = CharTokenizer()
    train_set = CompletionsDataset(make_pairs(2000, rng), tok)
    valid_set = CompletionsDataset(make_pairs(200, rng), tok)

    model = TinyLM(tok.vocab_size)
    opt = optim.Adam(learning_rate=3e-3)
    loss_and_grad = nn.value_and_grad(model, input_masked_loss)

    iters, batch_size, max_seq_length = 300, 16, 32
    print(f"train={len(train_set)} valid={len(valid_set)} vocab={tok.vocab_size}")
    t0 = time.perf_counter()
    losses, ntok_total = [], 0
    batches = iterate_delineated_batches(train_set, tok, batch_size, max_seq_length, train=True)
    for it, (inputs, in_lens, lens) in zip(range(1, iters + 1), batches):
        model.train()
        (loss, ntoks), grads = loss_and_grad(model, inputs, in_lens, lens)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        losses.append(loss.item())
        ntok_total += ntoks.item()
        if it % 50 == 0 or it == 1:
            dt = time.perf_counter() - t0
            print(f"Iter {it}: Train loss {np.mean(losses):.3f}, "
                  f"Tokens/sec {ntok_total / dt:.0f}, Trained Tokens {ntok_total}")
            losses = []

    model.eval()
    vl, vn, hit = 0.0, 0, 0
    for inputs, in_lens, lens in iterate_delineated_batches(valid_set, tok, batch_size, max_seq_length):
        loss, ntoks = input_masked_loss(model, inputs, in_lens, lens)
        correct, _ = completion_token_accuracy(model, inputs, in_lens, lens)
        vl += loss.item() * ntoks.item()
        vn += ntoks.item()
        hit += correct.item()
    print(f"Val loss {vl / vn:.3f}, Val completion-token accuracy {hit / vn:.1%} over {vn} tokens")

if __name__ == "__main__":
    main()
