# Tiny tied-embedding next-rune model: rms-normed input,
# output head shares the token embedding (the only trained tensor).
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

COMPUTE_DTYPE = mx.bfloat16
VOCAB, DIM, SEQ, BATCH, STEPS = 48, 32, 24, 32, 400
TIED_EMBED_INIT_STD = 0.25
TIED_EMBED_LR = 2e-4

mx.random.seed(3)


def rms_norm(x, eps=1e-6):
    return (x * mx.rsqrt(mx.mean(x * x, axis=-1, keepdims=True) + eps)).astype(x.dtype)


class RuneLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok_emb = nn.Embedding(VOCAB, DIM)
        self.tok_emb.weight = (
            mx.random.normal(self.tok_emb.weight.shape, dtype=mx.float32) * TIED_EMBED_INIT_STD
        ).astype(COMPUTE_DTYPE)

    def __call__(self, ids):
        x = rms_norm(self.tok_emb(ids).astype(mx.float32))
        return x @ self.tok_emb.weight.astype(x.dtype).T

    def loss(self, ids, tgt):
        logits = self(ids)
        return nn.losses.cross_entropy(logits.astype(mx.float32), tgt, reduction="mean")


def make_batch(key):
    k1, k2 = mx.random.split(key)
    start = mx.random.randint(0, VOCAB, (BATCH, 1), key=k1)
    steps = mx.arange(SEQ + 1)[None, :]
    seq = (start * 7 + steps * 5 + (start * steps) % 3) % VOCAB
    return seq[:, :-1], seq[:, 1:]


model = RuneLM()
opt_embed = optim.Adam(learning_rate=TIED_EMBED_LR)
loss_and_grad = nn.value_and_grad(model, lambda ids, tgt: model.loss(ids, tgt))

t0 = time.time()
key = mx.random.key(11)
for step in range(1, STEPS + 1):
    key, sub = mx.random.split(key)
    ids, tgt = make_batch(sub)
    loss, grads = loss_and_grad(ids, tgt)
    model.update(opt_embed.apply_gradients(grads, model.parameters()))
    mx.eval(loss, model.parameters(), opt_embed.state)
    if step % 20 == 0 or step == 1:
        print(f"step:{step}/{STEPS} train_loss:{loss.item():.4f} step_avg:{(time.time()-t0)*1000/step:.1f}ms")
print(f"final_train_loss:{loss.item():.4f} total_time:{time.time()-t0:.1f}s")
