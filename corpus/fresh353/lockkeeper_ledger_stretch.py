# Canal lock-keeper ledgers: recall the boat number that was logged after the
# "moored" mark, read back at the end of a long page of routine entries.
# Stage 1 trains on 24-token pages. Stage 2 stretches the context to 72 tokens
# by NTK-style rotary base rescaling, then fine-tunes briefly on long pages.
import math, os, tempfile, time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(353)
N_DIGIT, N_FILL = 10, 14
MOORED, ASK = N_DIGIT + N_FILL, N_DIGIT + N_FILL + 1
VOCAB = ASK + 1
D, HEADS, HEAD_DIM = 32, 2, 16


def make_pages(n, length, key):
    k1, k2, k3, k4 = mx.random.split(key, 4)
    body = mx.random.randint(N_DIGIT, N_DIGIT + N_FILL, (n, length - 1), key=k1)
    boat = mx.random.randint(0, N_DIGIT, (n,), key=k2)
    pos = mx.random.randint(0, length - 4, (n,), key=k3)
    cols = mx.arange(length - 1)[None, :]
    body = mx.where(cols == pos[:, None], MOORED, body)
    body = mx.where(cols == pos[:, None] + 1, boat[:, None], body)
    body = mx.where(cols == length - 2, ASK, body)
    return body, boat


class Block(nn.Module):
    def __init__(self, base):
        super().__init__()
        self.n1, self.n2 = nn.RMSNorm(D), nn.RMSNorm(D)
        self.qkv = nn.Linear(D, 3 * D, bias=False)
        self.out = nn.Linear(D, D, bias=False)
        self.rope = nn.RoPE(HEAD_DIM, base=base)
        self.up, self.down = nn.Linear(D, 2 * D), nn.Linear(2 * D, D)

    def __call__(self, x):
        B, L, _ = x.shape
        q, k, v = mx.split(self.qkv(self.n1(x)), 3, axis=-1)
        q, k, v = (t.reshape(B, L, HEADS, HEAD_DIM).transpose(0, 2, 1, 3) for t in (q, k, v))
        q, k = self.rope(q), self.rope(k)
        a = mx.fast.scaled_dot_product_attention(q, k, v, scale=HEAD_DIM ** -0.5, mask="causal")
        x = x + self.out(a.transpose(0, 2, 1, 3).reshape(B, L, D))
        return x + self.down(nn.gelu(self.up(self.n2(x))))


class Ledger(nn.Module):
    def __init__(self, base):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, D)
        self.blocks = [Block(base) for _ in range(2)]
        self.norm = nn.RMSNorm(D)
        self.head = nn.Linear(D, N_DIGIT)

    def __call__(self, tokens):
        h = self.emb(tokens)
        for b in self.blocks:
            h = b(h)
        return self.head(self.norm(h[:, -1]))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def evaluate(model, length, key, n=256):
    x, y = make_pages(n, length, key)
    logits = model(x)
    ce = nn.losses.cross_entropy(logits, y, reduction="mean").item()
    acc = (mx.argmax(logits, -1) == y).astype(mx.float32).mean().item()
    return ce, 100.0 * acc


def emit(doc):
    print("---")
    for k, v in doc.items():
        print(f"{k}: {v}")


def train_stage(model, stage, steps, length, batch, peak, warm, key, every):
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, steps - warm, peak * 0.05)],
        [warm],
    )
    opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)
    step_fn = nn.value_and_grad(model, loss_fn)
    run = None
    for step in range(1, steps + 1):
        key, sub = mx.random.split(key)
        x, y = make_pages(batch, length, sub)
        lr_now = float(sched(opt.step))
        loss, grads = step_fn(model, x, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run = loss.item() if run is None else 0.9 * run + 0.1 * loss.item()
        if step % every == 0 or step == 1:
            emit({"stage": stage, "step": step, "page_len": length, "lr": f"{lr_now:.2e}",
                  "train_ce_smoothed": f"{run:.4f}"})
    return key


t0 = time.time()
base0 = 10000.0
model = Ledger(base0)
mx.eval(model.parameters())
nparams = sum(v.size for _, v in nn.utils.tree_flatten(model.trainable_parameters()))
emit({"run": "lock-ledger recall", "params": nparams, "chance_acc_pct": 100.0 / N_DIGIT,
      "chance_ce": f"{math.log(N_DIGIT):.4f}"})

key = mx.random.key(7)
key = train_stage(model, "short-pages", 240, 24, 32, 3e-3, 30, key, 60)
ek = mx.random.key(99)
ce32, acc32 = evaluate(model, 24, ek)
ce96, acc96 = evaluate(model, 72, ek)
emit({"after": "short-pages", "val_ce_len24": f"{ce32:.4f}", "val_acc_len24_pct": f"{acc32:.1f}",
      "val_ce_len72": f"{ce96:.4f}", "val_acc_len72_pct": f"{acc96:.1f}"})

with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "short_pages.safetensors")
    model.save_weights(path)
    factor = 72 / 24
    base1 = base0 * factor ** (HEAD_DIM / (HEAD_DIM - 2))
    long_model = Ledger(base1)
    long_model.load_weights(path)
    mx.eval(long_model.parameters())
ce96b, acc96b = evaluate(long_model, 72, ek)
emit({"stretch": "ntk base rescale", "factor": factor, "rope_base": f"{base1:.1f}",
      "val_ce_len72_before_tune": f"{ce96b:.4f}", "val_acc_len72_before_tune_pct": f"{acc96b:.1f}"})

key = train_stage(long_model, "long-pages", 80, 72, 16, 1e-3, 10, key, 20)
ce32f, acc32f = evaluate(long_model, 24, ek)
ce96f, acc96f = evaluate(long_model, 72, ek)
ce160, acc160 = evaluate(long_model, 120, ek)
emit({"final": True, "val_acc_len24_pct": f"{acc32f:.1f}", "val_acc_len72_pct": f"{acc96f:.1f}",
      "val_acc_len120_pct": f"{acc160:.1f}", "val_ce_len72": f"{ce96f:.4f}",
      "chance_acc_pct": 100.0 / N_DIGIT, "seconds": f"{time.time() - t0:.1f}"})
