"""Cooperage stave tally: fit a tiny GPT-2 (mlx_lm.models.gpt2) on the yard's
tally shorthand with the mlx-lm trainer. Progress goes to a JSONL file; a
summary table is printed once training ends."""
import json, math, os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.optimizers as optim
from mlx_lm.models import gpt2
from mlx_lm.tuner.datasets import TextDataset
from mlx_lm.tuner.trainer import TrainingArgs, train, evaluate
from mlx_lm.tuner.callbacks import TrainingCallback
from mlx_lm.tuner.utils import build_schedule

SYMS = list("OWHBRSKTX0123456789")   # oak, white, heading, bilge, rivet ...
V = len(SYMS) + 2                    # + pad/eos(0) + separator
EOS, SEP = 0, 1

rng = np.random.default_rng(7)
# order-1 Markov law of the tally marks, fairly peaked
P = rng.dirichlet(np.full(len(SYMS), 0.35), size=len(SYMS))
start = rng.dirichlet(np.ones(len(SYMS)))


def entropy_rate():
    # stationary distribution of P
    w, v = np.linalg.eig(P.T)
    pi = np.real(v[:, np.argmin(np.abs(w - 1))]); pi = pi / pi.sum()
    return float(-(pi[:, None] * P * np.log(P + 1e-30)).sum())


def make_line(n):
    s = [rng.choice(len(SYMS), p=start)]
    for _ in range(n - 1):
        s.append(rng.choice(len(SYMS), p=P[s[-1]]))
    return "".join(SYMS[i] for i in s)


class CharTok:
    eos_token_id = EOS

    def encode(self, text):
        return [SYMS.index(c) + 2 for c in text]


tok = CharTok()
train_rows = [{"text": make_line(int(rng.integers(22, 31)))} for _ in range(512)]
val_rows = [{"text": make_line(int(rng.integers(22, 31)))} for _ in range(96)]
train_set = [TextDataset(train_rows, tok).process(r) for r in train_rows]
val_set = [TextDataset(val_rows, tok).process(r) for r in val_rows]

args = gpt2.ModelArgs(model_type="gpt2", n_ctx=96, n_embd=48, n_head=4, n_layer=2,
                      n_positions=96, layer_norm_epsilon=1e-5, vocab_size=V)
mx.random.seed(3)
model = gpt2.Model(args)
nparams = sum(v.size for _, v in __import__("mlx.utils").utils.tree_flatten(model.parameters()))

iters = 160
sched = build_schedule({"name": "cosine_decay", "warmup": 24, "warmup_init": 0.0,
                        "arguments": [3e-3, iters // 2 - 24, 3e-4]})
opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)

log_path = os.path.join(tempfile.mkdtemp(), "progress.jsonl")


class JsonlLog(TrainingCallback):
    def __init__(self, path):
        self.f = open(path, "w")

    def on_train_loss_report(self, info):
        self.f.write(json.dumps({k: float(v) for k, v in info.items()}) + "\n"); self.f.flush()

    def on_val_loss_report(self, info):
        self.f.write(json.dumps({k: float(v) for k, v in info.items()}) + "\n"); self.f.flush()


# unigram baseline on the training marks (plus eos)
counts = np.bincount(np.concatenate([np.array(t) for t, _ in train_set]), minlength=V) + 1.0
pu = counts / counts.sum()
vals = np.concatenate([np.array(t[1:]) for t, _ in val_set])
unigram_nats = float(-np.log(pu[vals]).mean())
floor = entropy_rate()

cb = JsonlLog(log_path)
t0 = time.time()
targs = TrainingArgs(batch_size=8, iters=iters, val_batches=-1, steps_per_report=20,
                     steps_per_eval=40, steps_per_save=10_000, max_seq_length=96,
                     grad_accumulation_steps=2,
                     adapter_file=os.path.join(os.path.dirname(log_path), "w.safetensors"))
import contextlib, io
with contextlib.redirect_stdout(io.StringIO()):
    train(model, opt, train_set, val_set, args=targs, training_callback=cb)
cb.f.close()
elapsed = time.time() - t0

rows = [json.loads(l) for l in open(log_path)]
tr = [r for r in rows if "train_loss" in r]
va = [r for r in rows if "val_loss" in r]
final_val = evaluate(model, val_set, batch_size=8, num_batches=-1, max_seq_length=96)

print(f"cooperage tally gpt2: {nparams} params, {iters} iters (2-step accumulation), {elapsed:.1f}s")
print(f"progress written to {log_path} ({len(rows)} records)")
print()
print(f"{'iter':>5} {'train nats':>11} {'lr':>10}")
for r in tr[::2] + [tr[-1]]:
    print(f"{int(r['iteration']):>5} {r['train_loss']:>11.4f} {r['learning_rate']:>10.2e}")
print()
print(f"{'iter':>5} {'val nats':>9}")
for r in va:
    print(f"{int(r['iteration']):>5} {r['val_loss']:>9.4f}")
print()
print(f"{'reference':<28}{'nats/mark':>10}")
print(f"{'uniform over marks':<28}{math.log(len(SYMS)):>10.4f}")
print(f"{'unigram frequency':<28}{unigram_nats:>10.4f}")
print(f"{'Markov entropy floor':<28}{floor:>10.4f}")
print(f"{'model (final val)':<28}{final_val:>10.4f}")
print(f"gap above floor: {final_val - floor:+.4f} nats")
