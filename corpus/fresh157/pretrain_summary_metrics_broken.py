# Tiny causal-LM pretraining run (trainer-style), modelled on a small MLX
# pretraining repo: logging interval, checkpoints, final validation, summary log.
import json, math, os, tempfile, time
from datetime import datetime
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(3)
rng = np.random.default_rng(3)

# ---- data: synthetic "documents" over a 16-token vocabulary (a noisy cyclic grammar)
V, T = 16, 24
def make_docs(n):
    docs = []
    for _ in range(n):
        start, stride = rng.integers(0, V), rng.choice([1, 3, 5])
        seq = [(start + stride * i) % V for i in range(T + 1)]
        seq = [t if rng.random() > 0.05 else int(rng.integers(0, V)) for t in seq]
        docs.append(seq)
    return np.array(docs, dtype=np.int32)
train_docs, val_docs = make_docs(2048), make_docs(256)

class TinyLM(nn.Module):
    def __init__(self, d=48, heads=4, layers=1):
        super().__init__()
        self.emb = nn.Embedding(V, d)
        self.pos = nn.Embedding(T, d)
        self.blocks = [nn.TransformerEncoderLayer(d, heads, 4 * d) for _ in range(layers)]
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, V)
    def __call__(self, x):
        L = x.shape[1]
        h = self.emb(x) + self.pos(mx.arange(L))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        for b in self.blocks:
            h = b(h, mask)
        return self.head(self.norm(h))

def compute_loss(model, inputs, targets):
    logits = model(inputs)
    ce = nn.losses.cross_entropy(logits, targets, reduction="sum")
    ntoks = targets.size
    return ce / ntoks, mx.array(ntoks)

class Trainer:
    def __init__(self, run_dir, total_steps=160, batch=16, log_every=20, ckpt_every=80):
        self.run_dir, self.total_steps, self.batch = run_dir, total_steps, batch
        self.log_every, self.ckpt_every = log_every, ckpt_every
        self.model = TinyLM()
        self.lr_schedule = optim.join_schedules(
            [optim.linear_schedule(0.0, 3e-3, 20), optim.cosine_decay(3e-3, total_steps - 20, 1e-4)], [20])
        self.optimizer = optim.AdamW(learning_rate=self.lr_schedule, weight_decay=0.01)
        self.log_file = os.path.join(run_dir, "train.log")
        self.validation_losses = []

    def validate(self):
        tot, n = 0.0, 0
        for i in range(0, len(val_docs), 64):
            b = mx.array(val_docs[i:i + 64])
            loss, toks = compute_loss(self.model, b[:, :-1], b[:, 1:])
            tot += loss.item() * toks.item(); n += toks.item()
        return tot / n

    def save_checkpoint(self, tag, val_loss):
        path = os.path.join(self.run_dir, f"ckpt_{tag}.safetensors")
        mx.save_safetensors(path, dict(tree_flatten(self.model.parameters())))
        with open(os.path.join(self.run_dir, "metadata.json"), "w") as f:
            json.dump({"tag": str(tag), "val_loss": val_loss}, f)

    def train(self):
        loss_and_grad = nn.value_and_grad(self.model, compute_loss)
        start_time = time.time()
        total_tokens = mx.array(0)
        metrics_to_log = {}
        val_loss = None
        for step in range(self.total_steps):
            idx = rng.integers(0, len(train_docs), self.batch)
            b = mx.array(train_docs[idx])
            (loss, tokens), grads = loss_and_grad(self.model, b[:, :-1], b[:, 1:])
            self.optimizer.update(self.model, grads)
            total_tokens = total_tokens + tokens
            mx.eval(self.model.parameters(), self.optimizer.state, loss, total_tokens)
            if step % self.log_every == 0:
                metrics_to_log.update({
                    "loss": float(loss.item()),
                    "ppl": float(np.exp(loss.item())),
                    "lr": float(self.lr_schedule(step)),
                    "tokens": int(tokens.item()),
                    "total_tokens": int(total_tokens.item()),
                    "tokens_per_sec": float(total_tokens.item() / (time.time() - start_time)),
                })
                metrics_str = " | ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
                                         for k, v in metrics_to_log.items())
                print(f"step {step:4d}/{self.total_steps} {metrics_str}", flush=True)
                metrics_to_log = {}
            if (1 + step) % self.ckpt_every == 0:
                val_loss = self.validate()
                self.validation_losses.append((step + 1, val_loss))
                print(f"[ckpt] step {step + 1} val_loss={val_loss:.4f}", flush=True)
                self.save_checkpoint(step + 1, val_loss)

        final_val_loss = self.validate()
        self.validation_losses.append((self.total_steps, final_val_loss))
        self.save_checkpoint("final", final_val_loss)

        with open(self.log_file, "a") as log_file:
            log_file.write("\n" + "=" * 50 + "\n")
            log_file.write(f"Training completed at {datetime.now()}\n")
            log_file.write(f"Final training metrics: {metrics}\n")
            if final_val_loss is not None:
                log_file.write(f"Final validation loss: {final_val_loss:.4e} (ppl={np.exp(final_val_loss):.2f})\n")
            log_file.write(f"Total tokens processed: {total_tokens.item()/1000:.2f}K\n")
        with open(self.log_file) as f:
            print(f.read().strip())

with tempfile.TemporaryDirectory() as d:
    Trainer(d).train()
