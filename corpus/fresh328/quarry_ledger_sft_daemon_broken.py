"""Background fine-tune job runner: a small causal LM trained on synthetic
ledger lines, started by a service that has no terminal attached."""
from __future__ import annotations

import os
import sys
import time
import uuid

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten
from tqdm import tqdm

VOCAB = 24
SEQ = 32


class Block(nn.Module):
    def __init__(self, dims, heads):
        super().__init__()
        self.ln1 = nn.LayerNorm(dims)
        self.attn = nn.MultiHeadAttention(dims, heads)
        self.ln2 = nn.LayerNorm(dims)
        self.mlp = nn.Sequential(nn.Linear(dims, 4 * dims), nn.GELU(), nn.Linear(4 * dims, dims))

    def __call__(self, x, mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, mask)
        return x + self.mlp(self.ln2(x))


class TinyLM(nn.Module):
    def __init__(self, vocab=VOCAB, dims=32, heads=4, layers=2):
        super().__init__()
        self.emb = nn.Embedding(vocab, dims)
        self.pos = nn.Embedding(SEQ, dims)
        self.blocks = [Block(dims, heads) for _ in range(layers)]
        self.ln = nn.LayerNorm(dims)
        self.out = nn.Linear(dims, vocab)

    def __call__(self, x):
        L = x.shape[1]
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        h = self.emb(x) + self.pos(mx.arange(L))
        for b in self.blocks:
            h = b(h, mask)
        return self.out(self.ln(h))


def make_split(n, seed):
    # each row: start value and stride, then the running ledger mod VOCAB
    key = mx.random.key(seed)
    k1, k2 = mx.random.split(key)
    start = mx.random.randint(0, VOCAB, (n, 1), key=k1)
    stride = mx.random.randint(1, 5, (n, 1), key=k2)
    rows = (start + stride * mx.arange(SEQ + 1)[None, :]) % VOCAB
    return rows.astype(mx.int32)


def iterate_batches(data, batch_size, shuffle=True):
    idx = mx.random.permutation(data.shape[0]) if shuffle else mx.arange(data.shape[0])
    for i in range(0, data.shape[0] - batch_size + 1, batch_size):
        b = data[idx[i : i + batch_size]]
        yield b[:, :-1], b[:, 1:]


def loss_fn(model, x, y):
    logits = model(x)
    return nn.losses.cross_entropy(logits, y, reduction="mean")


def evaluate(model, data, batch_size, num_batches):
    total, count = 0.0, 0
    batches = iterate_batches(data, batch_size, shuffle=False)
    for _, (x, y) in tqdm(zip(range(num_batches), batches), desc="Calculating loss...", total=num_batches):
        total += loss_fn(model, x, y).item()
        count += 1
    return total / max(count, 1)


def train(model, args, optimizer, train_dataset, val_dataset, training_callback):
    loss_and_grad = nn.value_and_grad(model, loss_fn)
    state = [model.state, optimizer.state]
    it = 0
    losses = []
    tic = time.perf_counter()
    while it < args["iters"]:
        for x, y in iterate_batches(train_dataset, args["batch_size"]):
            it += 1
            if it == 1 or it % args["steps_per_eval"] == 0 or it == args["iters"]:
                val_loss = evaluate(model, val_dataset, args["batch_size"], args["val_batches"])
                print(f"Iter {it}: Val loss {val_loss:.3f}", flush=True)
                training_callback("val", it, val_loss)
            loss, grads = loss_and_grad(model, x, y)
            optimizer.update(model, grads)
            mx.eval(state, loss)
            losses.append(loss.item())
            if it % args["steps_per_report"] == 0:
                avg = sum(losses) / len(losses)
                rate = args["steps_per_report"] / (time.perf_counter() - tic)
                print(f"Iter {it}: Train loss {avg:.3f}, It/sec {rate:.2f}", flush=True)
                training_callback("train", it, avg)
                losses = []
                tic = time.perf_counter()
            if it >= args["iters"]:
                break


class FineTuneService:
    def __init__(self):
        self.jobs = {}

    def submit(self, cfg):
        job_id = uuid.uuid4().hex[:12]
        self.jobs[job_id] = {"cfg": cfg, "status": "queued", "progress": {}}
        return job_id

    def _execute_training(self, job_id):
        job = self.jobs[job_id]
        cfg = job["cfg"]
        mx.random.seed(cfg["seed"])
        model = TinyLM()
        mx.eval(model.parameters())
        optimizer = optim.AdamW(learning_rate=cfg["learning_rate"], weight_decay=0.01)
        train_set = make_split(1024, cfg["seed"] + 1)
        valid_set = make_split(256, cfg["seed"] + 2)

        def callback(kind, step, value):
            job["progress"][f"{kind}_loss"] = round(value, 4)
            job["progress"]["step"] = step

        print(
            f"Starting training: job={job_id} iters={cfg['iters']} "
            f"batch_size={cfg['batch_size']} lr={cfg['learning_rate']}",
            flush=True,
        )
        train(
            model=model,
            args=cfg,
            optimizer=optimizer,
            train_dataset=train_set,
            val_dataset=valid_set,
            training_callback=callback,
        )

        adapter_weights = dict(tree_flatten(model.trainable_parameters()))
        print(f"Saved {len(adapter_weights)} weight tensors for job={job_id}", flush=True)

    def run(self, job_id):
        job = self.jobs[job_id]
        job["status"] = "running"
        try:
            self._execute_training(job_id)
            job["status"] = "completed"
        except Exception as e:
            job["status"] = "failed"
            job["error"] = f"{type(e).__name__}: {e}"
        print(f"job={job_id} status={job['status']} progress={job['progress']}"
              + (f" error={job['error']}" if "error" in job else ""), flush=True)
        return job["status"]


def detach_from_terminal():
    # service mode: no terminal, stderr is the log collector pipe
    r, w = os.pipe()
    os.close(r)
    sys.stderr = os.fdopen(w, "w")


if __name__ == "__main__":
    detach_from_terminal()
    service = FineTuneService()
    job_id = service.submit(
        {
            "seed": 7,
            "iters": 120,
            "batch_size": 32,
            "learning_rate": 3e-3,
            "steps_per_eval": 40,
            "steps_per_report": 10,
            "val_batches": 8,
        }
    )
    status = service.run(job_id)
    sys.exit(0 if status == "completed" else 1)
