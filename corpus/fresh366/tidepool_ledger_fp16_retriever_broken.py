"""Two-tower retriever fine-tune: frozen fp16 encoder + LoRA adapters, InfoNCE with hard negatives."""
import math
import random

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as opt
from mlx.utils import tree_flatten

SEED = 7
VOCAB = 600
DIM = 128
HIDDEN = 256
N_TOPICS = 40
TEMPERATURE = 0.05
BATCH = 16
EPOCHS = 5
LR = 3e-3

random.seed(SEED)
mx.random.seed(SEED)

# ---------- synthetic query / passage data ----------
topic_words = [list(range(40 + t * 12, 40 + (t + 1) * 12)) for t in range(N_TOPICS)]
filler = list(range(520, VOCAB))


def make_text(topic, n_key, n_fill):
    toks = random.sample(topic_words[topic], n_key) + random.sample(filler, n_fill)
    random.shuffle(toks)
    return toks


def make_pair(topic):
    q = make_text(topic, 3, 5)
    p = make_text(topic, 5, 11)
    other = random.choice([t for t in range(N_TOPICS) if t != topic])
    n = make_text(other, 5, 11)
    return {"query": q, "positive": p, "negatives": [n], "topic": topic}


train_pairs = [make_pair(random.randrange(N_TOPICS)) for _ in range(400)]
eval_pairs = [make_pair(t % N_TOPICS) for t in range(160)]
corpus = [make_text(t, 5, 11) for t in range(N_TOPICS)]


def pad(batch):
    L = max(len(t) for t in batch)
    ids = [t + [0] * (L - len(t)) for t in batch]
    mask = [[1] * len(t) + [0] * (L - len(t)) for t in batch]
    return mx.array(ids), mx.array(mask)


# ---------- model ----------
class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, r=8, scale=2.0):
        super().__init__()
        self.linear = base
        out_dims, in_dims = base.weight.shape
        bound = 1 / math.sqrt(in_dims)
        self.lora_a = mx.random.uniform(-bound, bound, (in_dims, r))
        self.lora_b = mx.zeros((r, out_dims))
        self.scale = scale

    def __call__(self, x):
        y = self.linear(x)
        z = (x.astype(mx.float32) @ self.lora_a) @ self.lora_b
        return y + (self.scale * z).astype(x.dtype)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, DIM)
        self.embed.weight = mx.random.normal((VOCAB, DIM)) * 40.0
        self.up = nn.Linear(DIM, HIDDEN)
        self.down = nn.Linear(HIDDEN, DIM)

    def __call__(self, input_ids, attention_mask):
        h = self.embed(input_ids)
        h = self.down(nn.gelu(self.up(h))) + h
        m = attention_mask[..., None].astype(h.dtype)
        return (h * m).sum(axis=1) / m.sum(axis=1)


model = Encoder()
model.set_dtype(mx.float16)
model.freeze()
model.up = LoRALinear(model.up)
model.down = LoRALinear(model.down)
for lora in (model.up, model.down):
    lora.linear.freeze()
mx.eval(model.parameters())

n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
n_total = sum(v.size for _, v in tree_flatten(model.parameters()))
print(f"Trainable parameters: {n_train} / {n_total}")

probe_ids, probe_mask = pad([train_pairs[0]["query"]])
probe = model(probe_ids, probe_mask)
print(f"Base embedding L2 norm: {mx.linalg.norm(probe.astype(mx.float32)).item():.1f} (dtype {probe.dtype})")


def l2_normalize(x, eps=1e-12):
    return x / mx.maximum(mx.linalg.norm(x, axis=-1, keepdims=True), eps)


def encode(model, ids, mask):
    return l2_normalize(model(ids, mask))


def info_nce_loss(q, c, mask=None):
    b = q.shape[0]
    logits = (q.astype(mx.float32) @ c.astype(mx.float32).T) / TEMPERATURE
    if mask is not None:
        logits = mx.where(mask < 0, -float("inf"), logits)
    log_probs = logits - mx.logsumexp(logits, axis=1, keepdims=True)
    t = mx.arange(b)
    return -mx.mean(log_probs[t, t])


def loss_fn(model, q_ids, q_mask, c_ids, c_mask):
    return info_nce_loss(encode(model, q_ids, q_mask), encode(model, c_ids, c_mask))


loss_and_grad = nn.value_and_grad(model, loss_fn)


def validate_training_step(loss, grads):
    leaves = [g.astype(mx.float32) for _, g in tree_flatten(grads)]
    norm = mx.sqrt(sum(mx.sum(g * g) for g in leaves))
    finite = mx.all(mx.stack([mx.all(mx.isfinite(g)) for g in leaves]))
    mx.eval(loss, norm, finite)
    value, gn = float(loss.item()), float(norm.item())
    if not math.isfinite(value) or not bool(finite.item()) or not math.isfinite(gn):
        raise FloatingPointError("Nonfinite loss or gradients; optimizer update was not applied")
    return value, gn


def recall_at_1():
    c_ids, c_mask = pad(corpus)
    c = encode(model, c_ids, c_mask)
    q_ids, q_mask = pad([p["query"] for p in eval_pairs])
    q = encode(model, q_ids, q_mask)
    pred = mx.argmax(q @ c.T, axis=1)
    gold = mx.array([p["topic"] for p in eval_pairs])
    return (pred == gold).astype(mx.float32).mean().item()


steps_per_epoch = math.ceil(len(train_pairs) / BATCH)
total = steps_per_epoch * EPOCHS
warm = max(1, total // 10)
sched = opt.join_schedules(
    [opt.linear_schedule(0.0, LR, warm), opt.cosine_decay(LR, total - warm)], [warm]
)
optimizer = opt.AdamW(learning_rate=sched, weight_decay=0.01)

print(f"Eval recall@1 before training: {recall_at_1():.3f}")
step = 0
for epoch in range(EPOCHS):
    random.shuffle(train_pairs)
    ep_loss, ep_n = 0.0, 0
    for i in range(0, len(train_pairs), BATCH):
        b = train_pairs[i:i + BATCH]
        q_ids, q_mask = pad([p["query"] for p in b])
        c_ids, c_mask = pad([p["positive"] for p in b] + [n for p in b for n in p["negatives"]])
        loss, grads = loss_and_grad(model, q_ids, q_mask, c_ids, c_mask)
        value, gn = validate_training_step(loss, grads)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state)
        step += 1
        ep_loss += value
        ep_n += 1
        if step % 10 == 0 or step == 1:
            print(f"Step {step:4d}/{total} | Loss {value:.4f} | grad norm {gn:.4f} | LR {sched(step).item():.2e}")
    print(f"Epoch {epoch + 1}/{EPOCHS} avg loss {ep_loss / ep_n:.4f} | eval recall@1 {recall_at_1():.3f}")

print(f"Final eval recall@1: {recall_at_1():.3f} (chance {1 / N_TOPICS:.3f})")
