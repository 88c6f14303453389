# LoRA-style chat fine-tune of a tiny char LM on "reverse the word" turns.
# Data goes through a chat template rendered as text, then encoded.
import random
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(3)
mx.random.seed(3)

LETTERS = "abcdef"
SPECIALS = ["<pad>", "<s>", "</s>", "[U]", "[A]"]
VOCAB = SPECIALS + list(LETTERS)
STOI = {t: i for i, t in enumerate(VOCAB)}
PAD, BOS, EOS = 0, 1, 2


class CharTokenizer:
    """HF-like: encode() adds BOS unless add_special_tokens=False."""

    bos_token = "<s>"

    def _split(self, text):
        out, i = [], 0
        while i < len(text):
            for sp in SPECIALS:
                if text.startswith(sp, i):
                    out.append(STOI[sp]); i += len(sp); break
            else:
                out.append(STOI[text[i]]); i += 1
        return out

    def encode(self, text, add_special_tokens=True):
        ids = self._split(text)
        return ([BOS] + ids) if add_special_tokens else ids

    def apply_chat_template(self, msgs, tokenize=False, add_generation_prompt=False):
        s = self.bos_token
        for m in msgs:
            s += ("[U]" if m["role"] == "user" else "[A]") + m["content"]
            if m["role"] == "assistant":
                s += "</s>"
        if add_generation_prompt:
            s += "[A]"
        return self._split(s) if tokenize else s


tok = CharTokenizer()


def make_pair():
    w = "".join(random.choice(LETTERS) for _ in range(4))
    return [{"role": "user", "content": w}, {"role": "assistant", "content": w[::-1]}]


train = [make_pair() for _ in range(1200)]
test = [make_pair() for _ in range(200)]


def encode_example(msgs):
    text = tok.apply_chat_template(msgs, tokenize=False)
    return tok.encode(text)


SEQ = 16


class TinyLM(nn.Module):
    def __init__(self, v, d=48, layers=2):
        super().__init__()
        self.emb = nn.Embedding(v, d)
        self.pos = nn.Embedding(SEQ, d)
        self.blocks = [nn.TransformerEncoderLayer(d, 4, 4 * d) for _ in range(layers)]
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, v)

    def __call__(self, x):
        T = x.shape[1]
        h = self.emb(x) + self.pos(mx.arange(T))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(T)
        for b in self.blocks:
            h = b(h, mask)
        return self.head(self.norm(h))


def batchify(rows):
    L = SEQ + 1
    arr = [r[:L] + [PAD] * (L - len(r[:L])) for r in rows]
    a = mx.array(arr)
    return a[:, :-1], a[:, 1:]


def loss_fn(model, x, y):
    logits = model(x)
    m = (y != PAD).astype(mx.float32)
    ce = nn.losses.cross_entropy(logits, y, reduction="none")
    return (ce * m).sum() / m.sum()


def generate(model, batch):
    # inference path: template tokenized directly (as the generate CLI does)
    ids = [tok.apply_chat_template(m[:1], tokenize=True, add_generation_prompt=True) for m in batch]
    x = mx.array(ids)
    for _ in range(6):
        nxt = mx.argmax(model(x[:, -SEQ:])[:, -1], axis=-1)
        x = mx.concatenate([x, nxt[:, None]], axis=1)
    outs = []
    for row in x[:, len(ids[0]):].tolist():
        row = row[:row.index(EOS)] if EOS in row else row
        outs.append("".join(VOCAB[i] for i in row))
    return outs


def exact_match(model, batch):
    got = generate(model, batch)
    return sum(g == m[1]["content"] for g, m in zip(got, batch)) / len(batch)


model = TinyLM(len(VOCAB))
opt = optim.AdamW(learning_rate=2e-3)
step_fn = nn.value_and_grad(model, loss_fn)

rows = [encode_example(m) for m in train]
print("example ids:", rows[0])
B = 32
it = 0
for epoch in range(6):
    random.shuffle(rows)
    tot, n = 0.0, 0
    for i in range(0, len(rows) - B + 1, B):
        x, y = batchify(rows[i:i + B])
        loss, g = step_fn(model, x, y)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item(); n += 1; it += 1
    model.eval()
    acc = exact_match(model, test[:100])
    model.train()
    print(f"epoch {epoch}  iters {it}  train_loss {tot / n:.4f}  chat_exact_match {acc:.2%}")

model.eval()
acc = exact_match(model, test)
print(f"final chat exact-match on {len(test)} held-out turns: {acc:.2%}")
for m, g in zip(test[:3], generate(model, test[:3])):
    print(f"  {m[0]['content']} -> {g!r} (want {m[1]['content']!r})")
