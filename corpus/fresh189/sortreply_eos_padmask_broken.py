# Answer-only SFT of a tiny causal transformer on "sort the digits" prompts.
# Tokenizer convention copied from a Qwen-style setup: pad token == eos token.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

DIGITS = 10
SEP = 10
EOS = 11
PAD = EOS           # same id, like <|endoftext|> in Qwen2.5
VOCAB = 12
MAXLEN = 14
rng = np.random.default_rng(7)


def make_example():
    n = int(rng.integers(2, 6))
    d = rng.integers(0, DIGITS, size=n)
    prompt = [int(v) for v in d] + [SEP]
    answer = sorted(d.tolist()) + [EOS]
    return prompt, answer


def _mask_answer_only_labels(input_ids, attention_mask, prompt_lengths, pad_token_id):
    labels = input_ids.copy()
    labels[attention_mask == 0] = -100
    labels[input_ids == pad_token_id] = -100
    for row_index, prompt_len in enumerate(prompt_lengths):
        labels[row_index, :prompt_len] = -100
    return labels


def collate(batch):
    ids = np.full((len(batch), MAXLEN), PAD, dtype=np.int32)
    att = np.zeros((len(batch), MAXLEN), dtype=np.int32)
    plens = []
    for i, (p, a) in enumerate(batch):
        seq = p + a
        ids[i, :len(seq)] = seq
        att[i, :len(seq)] = 1
        plens.append(len(p))
    labels = _mask_answer_only_labels(ids, att, plens, PAD)
    return mx.array(ids), mx.array(labels)


class TinyLM(nn.Module):
    def __init__(self, dims=64, heads=4, layers=2):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, dims)
        self.pos = nn.Embedding(MAXLEN, dims)
        self.body = nn.TransformerEncoder(layers, dims, heads, mlp_dims=128)
        self.head = nn.Linear(dims, VOCAB)

    def __call__(self, x):
        T = x.shape[1]
        h = self.tok(x) + self.pos(mx.arange(T))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(T)
        return self.head(self.body(h, mask))


def loss_fn(model, ids, labels):
    logits = model(ids[:, :-1])
    tgt = labels[:, 1:]
    valid = tgt != -100
    ce = nn.losses.cross_entropy(logits, mx.where(valid, tgt, 0), reduction="none")
    return (ce * valid).sum() / valid.sum()


def generate(model, prompt, max_new=10):
    seq = list(prompt)
    for _ in range(max_new):
        logits = model(mx.array([seq]))
        nxt = int(mx.argmax(logits[0, -1]).item())
        if nxt == EOS:
            return seq[len(prompt):], True
        seq.append(nxt)
        if len(seq) >= MAXLEN:
            break
    return seq[len(prompt):], False


def evaluate(model, n=120):
    exact = stopped = 0
    for _ in range(n):
        p, a = make_example()
        out, stop = generate(model, p)
        stopped += stop
        exact += stop and out == a[:-1]
    return exact / n, stopped / n


mx.random.seed(0)
model = TinyLM()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=3e-3)
step_fn = nn.value_and_grad(model, loss_fn)

t0 = time.time()
for step in range(1, 301):
    ids, labels = collate([make_example() for _ in range(64)])
    loss, grads = step_fn(model, ids, labels)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 75 == 0:
        em, sr = evaluate(model, 30)
        print(f"step {step:4d} | loss {loss.item():.4f} | exact {em:.3f} | stop {sr:.3f} | {time.time()-t0:.1f}s")

em, sr = evaluate(model, 80)
print(f"final exact-match {em:.3f}  stop-rate {sr:.3f}")
p, a = make_example()
out, stop = generate(model, p)
print("sample", p[:-1], "->", out, "stopped" if stop else "no EOS")
