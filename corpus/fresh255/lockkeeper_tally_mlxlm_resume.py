"""Canal lock-keeper tally: adapter fine-tune of a tiny llama with the mlx-lm tuner.

A small llama (mlx_lm.models.llama) is first pretrained on plain read-back of boat
numbers ("U4172=4172;"), then frozen.  LoRA adapters are added with
mlx_lm.tuner.linear_to_lora_layers and trained with mlx_lm.tuner.train on the
lock-keeper's tally code: going up ("U") every digit is written +3 mod 10, going
down ("D") every digit is written as 9-d.  Only the completion is scored.

The adapter run is done in two sittings: the first sitting stops at iteration 300
and leaves adapters.safetensors + adapter_config.json; the second sitting builds
a fresh model, reloads the frozen base and the adapter directory with
mlx_lm.tuner.utils.load_adapters and carries on with the same schedule (warmup
from 0, then cosine).
"""

import json
import os
import shutil
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

from mlx_lm.models import llama
from mlx_lm.tuner.callbacks import TrainingCallback
from mlx_lm.tuner.trainer import TrainingArgs, evaluate, train
from mlx_lm.tuner.utils import build_schedule, linear_to_lora_layers, load_adapters

# ---------------------------------------------------------------- vocabulary
PAD, BOS = 0, 1
CHARS = list("0123456789UDR=;")
STOI = {c: i + 2 for i, c in enumerate(CHARS)}
ITOS = {i: c for c, i in STOI.items()}
VOCAB = 2 + len(CHARS)
NDIG = 4


def encode(s):
    return [BOS] + [STOI[c] for c in s]


def decode(ids):
    return "".join(ITOS.get(int(i), "?") for i in ids)


def tally(direction, digits):
    if direction == "U":
        return "".join(str((int(d) + 3) % 10) for d in digits)
    return "".join(str(9 - int(d)) for d in digits)


class TallySet:
    """mlx-lm style dataset: item -> (tokens, prompt_offset)."""

    def __init__(self, rng, n, mode):
        self.items = []
        for _ in range(n):
            digits = "".join(str(d) for d in rng.integers(0, 10, NDIG))
            if mode == "readback":
                prompt, answer = "R" + digits + "=", digits
            else:
                direction = "U" if rng.random() < 0.5 else "D"
                prompt, answer = direction + digits + "=", tally(direction, digits)
            toks = encode(prompt + answer + ";")
            self.items.append((toks, len(encode(prompt)) - 1))

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


class Printer(TrainingCallback):
    def __init__(self, sitting):
        self.sitting = sitting

    def on_train_loss_report(self, info):
        print(
            f"[sitting {self.sitting}] Iter {info['iteration']:4d}: "
            f"Train loss {info['train_loss']:.3f}, "
            f"Learning Rate {info['learning_rate']:.3e}, "
            f"Tokens/sec {info['tokens_per_second']:.0f}, "
            f"Trained Tokens {info['trained_tokens']}",
            flush=True,
        )

    def on_val_loss_report(self, info):
        print(
            f"[sitting {self.sitting}] Iter {info['iteration'] + 1:4d}: "
            f"Val loss {info['val_loss']:.3f}",
            flush=True,
        )


def make_model():
    args = llama.ModelArgs(
        model_type="llama",
        hidden_size=32,
        num_hidden_layers=2,
        intermediate_size=64,
        num_attention_heads=4,
        num_key_value_heads=2,
        rms_norm_eps=1e-5,
        vocab_size=VOCAB,
        tie_word_embeddings=True,
    )
    return llama.Model(args)


def greedy_exact(model, dataset, limit=200):
    """Batched greedy decoding; every prompt has the same length."""
    model.eval()
    n = min(limit, len(dataset))
    toks = np.array([dataset[i][0] for i in range(n)], dtype=np.int32)
    off = dataset[0][1]
    seq = mx.array(toks[:, : off + 1])
    for _ in range(toks.shape[1] - off - 1):
        logits = model(seq)[:, -1, :]
        seq = mx.concatenate([seq, mx.argmax(logits, axis=-1)[:, None]], axis=1)
    pred = np.array(seq[:, off + 1 :])
    return float(np.mean(np.all(pred == toks[:, off + 1 :], axis=1)))


def base_checksum(model):
    flat = dict(tree_flatten(model.parameters()))
    vals = [v for k, v in flat.items() if "lora" not in k]
    return float(sum(mx.sum(mx.abs(v.astype(mx.float32))).item() for v in vals))


def main():
    mx.random.seed(11)
    np.random.seed(11)  # mlx-lm's batch iterator shuffles with the global numpy RNG
    rng = np.random.default_rng(11)
    workdir = tempfile.mkdtemp(suffix="_lockkeeper")
    adapter_dir = os.path.join(workdir, "adapters")
    os.makedirs(adapter_dir, exist_ok=True)

    read_train = TallySet(rng, 2000, "readback")
    tally_train = TallySet(rng, 1600, "tally")
    tally_valid = TallySet(rng, 128, "tally")

    # ---------------------------------------------- stage 0: base pretraining
    model = make_model()
    n_params = sum(v.size for _, v in tree_flatten(model.parameters()))
    print(f"base llama: {n_params} parameters, vocab {VOCAB}")
    t0 = time.time()
    base_args = TrainingArgs(
        batch_size=16, iters=400, val_batches=4, steps_per_report=400,
        steps_per_eval=10_000, steps_per_save=10_000, max_seq_length=12,
        adapter_file=os.path.join(workdir, "base_full.safetensors"),
    )
    base_opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.0)
    train(model, base_opt, read_train, None, args=base_args)
    model.save_weights(os.path.join(workdir, "base.safetensors"))
    read_val = TallySet(np.random.default_rng(5), 128, "readback")
    print(
        f"base pretrained in {time.time() - t0:.1f}s: read-back exact match "
        f"{greedy_exact(model, read_val, 100):.2f}"
    )

    base_val = evaluate(model, tally_valid, batch_size=16, num_batches=-1,
                        max_seq_length=12)
    base_acc = greedy_exact(model, tally_valid, 100)
    print(f"baseline (frozen base, no adapter): tally val loss {base_val:.3f}, "
          f"exact match {base_acc:.2f}")

    # ---------------------------------------------- stage 1: adapters, sitting 1
    lora_cfg = {
        "rank": 8, "scale": 10.0, "dropout": 0.0,
        "keys": ["self_attn.q_proj", "self_attn.v_proj", "mlp.up_proj",
                 "mlp.down_proj"],
    }
    total_iters, first_sitting = 600, 300
    sched_cfg = {"name": "cosine_decay", "arguments": [3e-3, total_iters, 1e-4],
                 "warmup": 40, "warmup_init": 0.0}
    with open(os.path.join(adapter_dir, "adapter_config.json"), "w") as f:
        json.dump({"fine_tune_type": "lora", "num_layers": 2,
                   "lora_parameters": lora_cfg}, f)

    model.freeze()
    linear_to_lora_layers(model, 2, lora_cfg)
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    print(f"trainable adapter parameters: {n_train} "
          f"({100.0 * n_train / n_params:.2f}% of base)")
    ck0 = base_checksum(model)

    adapter_file = os.path.join(adapter_dir, "adapters.safetensors")
    args1 = TrainingArgs(
        batch_size=16, iters=first_sitting, val_batches=-1, steps_per_report=10,
        steps_per_eval=100, steps_per_save=100, max_seq_length=12,
        adapter_file=adapter_file,
    )
    sched = build_schedule(sched_cfg)
    print(f"schedule: lr(0)={sched(0).item():.1e} lr(40)={sched(40).item():.1e} "
          f"lr({total_iters})={sched(total_iters).item():.1e}")
    opt1 = optim.Adam(learning_rate=sched)
    train(model, opt1, tally_train, tally_valid, args=args1,
          training_callback=Printer(1))
    mid_val = evaluate(model, tally_valid, batch_size=16, num_batches=-1,
                       max_seq_length=12)
    print(f"end of sitting 1: val loss {mid_val:.3f}, base checksum drift "
          f"{abs(base_checksum(model) - ck0):.2e}")
    del model, opt1

    # ---------------------------------------------- stage 2: resume, sitting 2
    model = make_model()
    model.load_weights(os.path.join(workdir, "base.safetensors"))
    model.freeze()
    load_adapters(model, adapter_dir)
    resumed_val = evaluate(model, tally_valid, batch_size=16, num_batches=-1,
                           max_seq_length=12)
    print(f"reloaded adapter dir: val loss {resumed_val:.3f} "
          f"(was {mid_val:.3f} before the break)")

    offset_sched = lambda step: sched(step + first_sitting)
    opt2 = optim.Adam(learning_rate=offset_sched)
    args2 = TrainingArgs(
        batch_size=16, iters=total_iters - first_sitting, val_batches=-1,
        steps_per_report=10, steps_per_eval=100, steps_per_save=1_000,
        max_seq_length=12, adapter_file=adapter_file,
    )
    train(model, opt2, tally_train, tally_valid, args=args2,
          training_callback=Printer(2))

    final_val = evaluate(model, tally_valid, batch_size=16, num_batches=-1,
                         max_seq_length=12)
    final_acc = greedy_exact(model, tally_valid, 200)
    print(f"final: tally val loss {final_val:.3f} (baseline {base_val:.3f}), "
          f"exact match {final_acc:.2f} (baseline {base_acc:.2f})")
    sample = tally_valid[0][0]
    off = tally_valid[0][1]
    print(f"example: {decode(sample[1:off + 1])} -> expected "
          f"{decode(sample[off + 1:])}")
    print(f"adapter file: {os.path.getsize(adapter_file)} bytes")
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
