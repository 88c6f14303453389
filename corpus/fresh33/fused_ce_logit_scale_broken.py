# Tiny Cohere-style LM (tied embeddings, logits multiplied by logit_scale) trained
# with a memory-saving "fused" cross-entropy that rebuilds logits from the final
# hidden states and the tied embedding matrix instead of running model.__call__.
import logging, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(format="%(asctime)s %(levelname)s %(message)s", level=logging.INFO)
log = logging.getLogger("train")

V, T, B, H = 64, 24, 32, 96
LOGIT_SCALE = 0.0625
rng = np.random.default_rng(4)
P = np.full((V, V), 0.02 / V)
for i in range(V):
    P[i, rng.choice(V, 2, replace=False)] += np.array([0.7, 0.28])
P /= P.sum(1, keepdims=True)


def make(n):
    x = np.empty((n, T + 1), np.int32)
    x[:, 0] = rng.integers(V, size=n)
    cum = P.cumsum(1)
    for t in range(T):
        u = rng.random(n)
        x[:, t + 1] = np.minimum((cum[x[:, t]] < u[:, None]).sum(1), V - 1)
    return mx.array(x[:, :-1]), mx.array(x[:, 1:])


Xtr, Ytr = make(1500)
Xva, Yva = make(500)
ent = -(P * np.log(P)).sum(1).mean()
log.info("vocab=%d  entropy floor of the chain ~ %.3f nats, uniform = %.3f", V, ent, np.log(V))


class TinyCohere(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(V, H)
        self.mlp = nn.Sequential(nn.Linear(H, 2 * H), nn.SiLU(), nn.Linear(2 * H, H))
        self.norm = nn.LayerNorm(H)
        self.logit_scale = LOGIT_SCALE

    def hidden(self, x):
        h = self.embed(x)
        return self.norm(h + self.mlp(h))

    def __call__(self, x):
        logits = self.embed.as_linear(self.hidden(x))
        return logits * self.logit_scale


def fused_ce(model, x, y):
    # rebuild the logits from hidden states and the tied head, chunk-free version
    h = model.hidden(x)
    logits = h @ model.embed.weight.T
    return nn.losses.cross_entropy(logits, y, reduction="mean")


def model_ce(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


mx.random.seed(0)
model = TinyCohere()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=2e-3, weight_decay=0.0)
vg = nn.value_and_grad(model, fused_ce)

t0 = time.time()
for epoch in range(1, 7):
    perm = mx.array(np.random.default_rng(epoch).permutation(len(Xtr)))
    s = 0.0; n = 0
    for b in range(0, len(Xtr), B):
        idx = perm[b:b + B]
        loss, g = vg(model, Xtr[idx], Ytr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        s += loss.item(); n += 1
    val = model_ce(model, Xva, Yva).item()
    acc = (mx.argmax(model(Xva), -1) == Yva).astype(mx.float32).mean().item()
    log.info("epoch %2d train_loss %.4f val_loss %.4f val_acc %.3f (%.1fs)", epoch, s / n, val, acc, time.time() - t0)
