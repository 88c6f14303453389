# Completion-only fine-tuning of a tiny char-level LM on "question -> answer" pairs.
# Prompt tokens are masked out of the loss; sequences are truncated to MAX_SEQ.
import random, time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(0); mx.random.seed(0)
VOCAB = [chr(c) for c in range(32, 127)]
stoi = {c: i + 1 for i, c in enumerate(VOCAB)}  # 0 = pad
V = len(VOCAB) + 1
MAX_SEQ = 48

def make_pair():
    a, b = random.randint(0, 99), random.randint(0, 99)
    if random.random() < 0.3:
        # verbose questions: the prompt alone is longer than MAX_SEQ
        filler = " ".join(random.choice(["please", "kindly", "compute", "for", "me", "the", "value", "of"]) for _ in range(12))
        prompt = f"Q: {filler} {a} plus {b}? A:"
    else:
        prompt = f"Q: {a} plus {b}? A:"
    return prompt, f" {a + b}."

def encode(prompt, answer):
    toks = [stoi[c] for c in prompt + answer]
    return toks, len(prompt)

data = [encode(*make_pair()) for _ in range(600)]

def iterate_batches(data, bs):
    # like mlx-lm: sort by length, cut into batches, shuffle the batch order
    idx = sorted(range(len(data)), key=lambda i: len(data[i][0]))
    batches = [idx[i:i + bs] for i in range(0, len(idx) - bs + 1, bs)]
    while True:
        random.shuffle(batches)
        for b in batches:
            rows = [data[i] for i in b]
            L = min(max(len(t) for t, _ in rows), MAX_SEQ)
            arr = [[0] * L for _ in rows]
            lengths, offsets = [], []
            for j, (t, off) in enumerate(rows):
                t = t[:L]
                arr[j][: len(t)] = t
                lengths.append(len(t)); offsets.append(off)
            yield mx.array(arr), mx.array(offsets), mx.array(lengths)

class TinyLM(nn.Module):
    def __init__(self, d=64):
        super().__init__()
        self.emb = nn.Embedding(V, d)
        self.rnn = nn.GRU(d, d)
        self.out = nn.Linear(d, V)
    def __call__(self, x):
        return self.out(self.rnn(self.emb(x)))

def loss_fn(model, batch, offsets, lengths):
    inputs, targets = batch[:, :-1], batch[:, 1:]
    logits = model(inputs)
    steps = mx.arange(1, targets.shape[1] + 1)
    mask = (steps[None, :] >= offsets[:, None]) & (steps[None, :] < lengths[:, None])
    ce = nn.losses.cross_entropy(logits, targets) * mask
    ntoks = mask.sum()
    return ce.astype(mx.float32).sum() / mx.maximum(ntoks, 1), ntoks

model = TinyLM()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=3e-3)
vg = nn.value_and_grad(model, loss_fn)

it = iterate_batches(data, 4)
t0 = time.time()
run_loss, run_toks = 0.0, 0
for step in range(1, 601):
    b, off, ln = next(it)
    (loss, ntoks), grads = vg(model, b, off, ln)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss, ntoks)
    run_loss += loss.item() * ntoks.item(); run_toks += ntoks.item()
    if step % 50 == 0:
        avg = run_loss / max(run_toks, 1)
        print(f"Iter {step}: Train loss {avg:.3f}, Trained tokens {run_toks}, It/sec {step / (time.time() - t0):.1f}")
        run_loss, run_toks = 0.0, 0
