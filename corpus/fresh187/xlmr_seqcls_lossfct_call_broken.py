# Tiny XLM-R-style sequence classifier: language id of short synthetic token strings.
# The model computes its own loss when labels are given (HF-style ...ForSequenceClassification).
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

VOCAB, SEQ, NLANG = 96, 16, 4
rng = np.random.default_rng(7)


def make_split(n):
    # each "language" prefers its own slice of the vocabulary plus shared tokens
    y = rng.integers(0, NLANG, size=n)
    X = np.empty((n, SEQ), dtype=np.int32)
    for i, lang in enumerate(y):
        own = rng.integers(lang * 20, lang * 20 + 20, size=SEQ)
        shared = rng.integers(80, VOCAB, size=SEQ)
        pick = rng.random(SEQ) < 0.18
        X[i] = np.where(pick, own, shared)
    return mx.array(X), mx.array(y.astype(np.int32))


class Config:
    problem_type = "single_label_classification"
    num_labels = NLANG
    hidden = 32


class TinyXLMRForSequenceClassification(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.num_labels = config.num_labels
        self.embeddings = nn.Embedding(VOCAB, config.hidden)
        self.pos = mx.random.normal((SEQ, config.hidden)) * 0.02
        self.layer = nn.TransformerEncoderLayer(config.hidden, 4, mlp_dims=64)
        self.dense = nn.Linear(config.hidden, config.hidden)
        self.out_proj = nn.Linear(config.hidden, config.num_labels)

    def __call__(self, input_ids, labels=None):
        h = self.embeddings(input_ids) + self.pos
        h = self.layer(h, None)
        cls = mx.tanh(self.dense(h[:, 0] * 0.5 + h.mean(axis=1) * 0.5))
        logits = self.out_proj(cls)
        loss = None
        if labels is not None:
            if self.config.problem_type == "regression":
                loss_fct = nn.losses.mse_loss()
                loss = loss_fct(logits.squeeze(), labels.squeeze())
            elif self.config.problem_type == "single_label_classification":
                loss_fct = nn.losses.cross_entropy()
                loss = loss_fct(logits.reshape(-1, self.num_labels), labels.reshape(-1), reduction="mean")
            elif self.config.problem_type == "multi_label_classification":
                loss_fct = nn.losses.binary_cross_entropy()
                loss = loss_fct(logits, labels)
        return loss, logits


mx.random.seed(0)
Xtr, ytr = make_split(1024)
Xva, yva = make_split(512)
model = TinyXLMRForSequenceClassification(Config())
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=2e-3, weight_decay=0.01)


def loss_only(m, x, y):
    return m(x, labels=y)[0]


step_fn = nn.value_and_grad(model, loss_only)
t0 = time.time()
for epoch in range(5):
    perm = np.random.default_rng(epoch).permutation(1024)
    tot = 0.0
    for b in range(0, 1024, 64):
        idx = mx.array(perm[b:b + 64])
        loss, grads = step_fn(model, Xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
    model.eval()
    vloss, logits = model(Xva, labels=yva)
    acc = (logits.argmax(axis=1) == yva).astype(mx.float32).mean().item()
    model.train()
    print(f"epoch {epoch+1} | train_loss {tot/16:.4f} | eval_loss {vloss.item():.4f} | eval_acc {acc:.3f}")
print(f"done in {time.time()-t0:.1f}s")
