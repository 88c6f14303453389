"""Tiny prompt->completion fine-tune with prompt masking (completions-only loss).

A char-level chat "tokenizer" with an apply_chat_template in the style of HF
(iterates over a list of {"role", "content"} messages).  The dataset class
mirrors mlx_lm's CompletionsDataset: with mask_prompt=True it computes the
prompt length (offset) so only completion tokens contribute to the loss.
"""
import random
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(0)
mx.random.seed(0)


class CharChatTokenizer:
    BOS, EOS = 1, 2

    def __init__(self):
        chars = "abcdefghijklmnopqrstuvwxyz0123456789 ?.:+=<>|/"
        self.vocab = {c: i + 3 for i, c in enumerate(chars)}
        self.vocab_size = len(self.vocab) + 3

    def encode(self, s):
        return [self.vocab[c] for c in s]

    def apply_chat_template(self, messages, tools=None, add_generation_prompt=False,
                            return_dict=False):
        out = [self.BOS]
        for m in messages:
            out += self.encode(f"<|{m['role'][0]}|>") + self.encode(m["content"])
            if m["role"] == "assistant":
                out.append(self.EOS)
        if add_generation_prompt:
            out += self.encode("<|a|>")
        return out


class CompletionsDataset:
    def __init__(self, data, tokenizer, prompt_key="prompt", completion_key="completion",
                 mask_prompt=False):
        self._data = data
        self.tokenizer = tokenizer
        self.prompt_key = prompt_key
        self.completion_key = completion_key
        self.mask_prompt = mask_prompt

    def process(self, d):
        tools = d.get("tools", None)
        messages = [
            {"role": "user", "content": d[self.prompt_key]},
            {"role": "assistant", "content": d[self.completion_key]},
        ]
        tokens = self.tokenizer.apply_chat_template(messages, tools=tools, return_dict=False)
        if self.mask_prompt:
            offset = len(
                self.tokenizer.apply_chat_template(
                    messages[0],
                    tools=tools,
                    add_generation_prompt=True,
                    return_dict=False,
                )
            )
            return tokens, offset
        return tokens, 0

    def __getitem__(self, i):
        return self._data[i]

    def __len__(self):
        return len(self._data)


def make_rows(n):
    rows = []
    for _ in range(n):
        a, b = random.randint(0, 9), random.randint(0, 9)
        rows.append({"prompt": f"{a}+{b}=?", "completion": f"{a + b}"})
    return rows


class TinyLM(nn.Module):
    def __init__(self, vocab, dim=64):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.rnn = nn.GRU(dim, dim)
        self.out = nn.Linear(dim, vocab)

    def __call__(self, x):
        return self.out(self.rnn(self.emb(x)))


def batches(ds, bs, rng):
    idx = list(range(len(ds)))
    rng.shuffle(idx)
    for s in range(0, len(idx) - bs + 1, bs):
        items = [ds.process(ds[j]) for j in idx[s:s + bs]]
        L = max(len(t) for t, _ in items)
        toks = [t + [0] * (L - len(t)) for t, _ in items]
        arr = mx.array(toks)
        lengths = mx.array([len(t) for t, _ in items])
        offsets = mx.array([o for _, o in items])
        yield arr[:, :-1], arr[:, 1:], lengths, offsets


def loss_fn(model, inp, tgt, lengths, offsets):
    logits = model(inp)
    pos = mx.arange(1, inp.shape[1] + 1)[None, :]
    mask = (pos >= offsets[:, None]) & (pos < lengths[:, None])
    ce = nn.losses.cross_entropy(logits, tgt) * mask
    return ce.sum() / mask.sum()


tok = CharChatTokenizer()
train_set = CompletionsDataset(make_rows(1024), tok, mask_prompt=True)
model = TinyLM(tok.vocab_size)
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=1e-2)
lg = nn.value_and_grad(model, loss_fn)
rng = random.Random(1)

t0 = time.time()
for epoch in range(1, 21):
    tot, n = 0.0, 0
    for inp, tgt, lengths, offsets in batches(train_set, 32, rng):
        loss, grads = lg(model, inp, tgt, lengths, offsets)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item(); n += 1
    print(f"epoch {epoch}  completion-token loss {tot / n:.4f}  ({time.time() - t0:.1f}s)")
