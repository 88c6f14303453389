# Fine-tune a tiny char-level "chat" model on response tokens only.
# The chat template renders turns as "<user>...\n<bot>...\n"; the loss is
# restricted to the assistant part with a train-on-responses-only mask.
import json
import random
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(7)
mx.random.seed(7)

USER_TAG = "<user>"
BOT_TAG = "<bot>"


def render(q, a):
    # chat template
    return f"{USER_TAG}{q}\n{BOT_TAG}{a}\n"


def make_example():
    q = "".join(random.choice("0123456789") for _ in range(3))
    return render(q, q[::-1])


texts = [make_example() for _ in range(1200)]
chars = sorted(set("".join(texts)))
stoi = {c: i for i, c in enumerate(chars)}
V = len(chars)
CTX = 12

# train_on_responses_only: find where the assistant answer starts
RESPONSE_PART = "### Response:\n"
INSTRUCTION_PART = "### Instruction:\n"


def build_rows(text):
    ids = [stoi[c] for c in text]
    start = text.find(RESPONSE_PART)
    labels = []
    for i in range(len(ids)):
        if start >= 0 and i >= start + len(RESPONSE_PART):
            labels.append(ids[i])
        else:
            labels.append(-100)
    xs, ys = [], []
    for i in range(1, len(ids)):
        window = ids[max(0, i - CTX):i]
        window = [0] * (CTX - len(window)) + window
        xs.append(window)
        ys.append(labels[i])
    return xs, ys


X, Y = [], []
for t in texts:
    xs, ys = build_rows(t)
    X += xs
    Y += ys
X = mx.array(X)
Y = mx.array(Y)
N = X.shape[0]


class CharMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, 16)
        self.h1 = nn.Linear(CTX * 16, 128)
        self.h2 = nn.Linear(128, 128)
        self.out = nn.Linear(128, V)

    def __call__(self, x):
        e = self.emb(x).reshape(x.shape[0], -1)
        h = nn.gelu(self.h1(e))
        h = nn.gelu(self.h2(h))
        return self.out(h)


def masked_loss(model, x, y):
    logits = model(x)
    mask = (y != -100)
    safe_y = mx.where(mask, y, 0)
    ce = nn.losses.cross_entropy(logits, safe_y, reduction="none")
    ntoks = mask.sum().astype(mx.float32)
    return (ce * mask).sum() / mx.maximum(ntoks, 1.0)


model = CharMLP()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=2e-3)
step_fn = nn.value_and_grad(model, masked_loss)

BS = 256
steps = 300
t0 = time.time()
for step in range(1, steps + 1):
    idx = mx.random.randint(0, N, (BS,))
    loss, grads = step_fn(model, X[idx], Y[idx])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 50 == 0 or step == 1:
        print(json.dumps({"step": step, "train_loss": round(loss.item(), 4),
                          "elapsed": round(time.time() - t0, 2)}))

# quick check on fresh prompts: greedy-decode the 3 answer chars
correct = 0
for _ in range(200):
    t = make_example()
    q_end = t.index(BOT_TAG) + len(BOT_TAG)
    ids = [stoi[c] for c in t[:q_end]]
    out = ""
    for _ in range(3):
        window = ids[-CTX:]
        pred = mx.argmax(model(mx.array([window])), axis=-1).item()
        out += chars[pred]
        ids.append(pred)
    correct += int(out == t[q_end:q_end + 3])
print(json.dumps({"final": True, "exact_match": correct / 200}))
