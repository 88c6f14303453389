# Harbour pilot code book: a tiny llama learns to answer pilot-station queries
# with mlx_lm's own trainer. Stage A trains every weight (linear warm-up from 0,
# cosine after). The checkpoint is then reloaded into a fresh model, frozen, and
# LoRA adapters continue on a second code book (stage B), so stage B starts
# from a higher loss on purpose.
import os
import tempfile

import mlx.core as mx
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten
from mlx_lm.models import llama
from mlx_lm.tuner.callbacks import TrainingCallback
from mlx_lm.tuner.trainer import TrainingArgs, evaluate, train
from mlx_lm.tuner.utils import linear_to_lora_layers

BOS, EOS, SEP = 1, 2, 13
DIGIT0 = 3
WORK = tempfile.mkdtemp()


def book_a(code):
    return code[::-1]


def book_b(code):
    return [(d + 3) % 10 for d in code[::-1]]


def make_rows(n, book, rng):
    rows = []
    for _ in range(n):
        code = [int(x) for x in rng.integers(0, 10, size=5)]
        prompt = [BOS] + [DIGIT0 + d for d in code] + [SEP]
        answer = [DIGIT0 + d for d in book(code)] + [EOS]
        rows.append((prompt + answer, len(prompt)))
    return rows


class Ledger(TrainingCallback):
    def __init__(self, stage):
        self.stage = stage

    def on_train_loss_report(self, info):
        print(f"{self.stage},train,{info['iteration']},{info['train_loss']:.4f},"
              f"{info['learning_rate']:.2e},{info['trained_tokens']}")

    def on_val_loss_report(self, info):
        print(f"{self.stage},val,{info['iteration']},{info['val_loss']:.4f},,")


def exact_match(model, rows):
    hits = 0
    copy_hits = 0
    for toks, off in rows:
        prompt = toks[:off]
        want = toks[off:-1]
        cur = mx.array(prompt)[None]
        out = []
        for _ in range(len(want)):
            nxt = int(mx.argmax(model(cur)[0, -1]).item())
            out.append(nxt)
            cur = mx.concatenate([cur, mx.array([[nxt]])], axis=1)
        hits += out == want
        copy_hits += prompt[1:-1] == want
    return hits / len(rows), copy_hits / len(rows)


def build_model():
    args = llama.ModelArgs(
        model_type="llama", hidden_size=64, num_hidden_layers=2,
        intermediate_size=128, num_attention_heads=4, num_key_value_heads=4,
        rms_norm_eps=1e-5, vocab_size=16, tie_word_embeddings=False,
    )
    return llama.Model(args)


def main():
    mx.random.seed(11)
    rng = np.random.default_rng(11)
    a_train, a_val = make_rows(2000, book_a, rng), make_rows(200, book_a, rng)
    b_train, b_val = make_rows(2000, book_b, rng), make_rows(200, book_b, rng)

    # ---- stage A: full training, warm-up from exactly 0
    model = build_model()
    mx.eval(model.parameters())
    n = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    print(f"stage A: {n} trainable params")
    iters_a = 160
    lr = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, 30), optim.cosine_decay(3e-3, iters_a - 30, 1e-4)],
        [30],
    )
    opt = optim.AdamW(learning_rate=lr, weight_decay=0.0)
    args_a = TrainingArgs(batch_size=16, iters=iters_a, val_batches=2, steps_per_report=20,
                          steps_per_eval=80, steps_per_save=1000, max_seq_length=64,
                          adapter_file=os.path.join(WORK, "stage_a.safetensors"))
    print("stage,split,iter,loss,lr,tokens")
    train(model, opt, a_train, a_val, args=args_a, training_callback=Ledger("A"))
    em, base = exact_match(model, a_val[:40])
    print(f"stage A exact-match {em:.2f} (copy-the-code baseline {base:.2f})")
    ckpt = os.path.join(WORK, "stage_a_full.safetensors")
    model.save_weights(ckpt)

    # ---- stage B: reload checkpoint into a fresh model, freeze, LoRA on top
    model = build_model()
    model.load_weights(ckpt)
    model.freeze()
    linear_to_lora_layers(model, 2, {"rank": 8, "dropout": 0.0, "scale": 10.0})
    n = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    print(f"stage B: reloaded {os.path.basename(ckpt)}, {n} trainable LoRA params")
    resumed = evaluate(model, a_val, batch_size=16, num_batches=2, max_seq_length=64)
    print(f"stage B: book A val loss after reload {resumed:.4f}")
    opt = optim.Adam(learning_rate=1e-3)
    args_b = TrainingArgs(batch_size=16, iters=120, val_batches=2, steps_per_report=20,
                          steps_per_eval=60, steps_per_save=1000, max_seq_length=64,
                          adapter_file=os.path.join(WORK, "stage_b_adapters.safetensors"))
    train(model, opt, b_train, b_val, args=args_b, training_callback=Ledger("B"))
    em, base = exact_match(model, b_val[:40])
    print(f"stage B exact-match {em:.2f} (copy-the-code baseline {base:.2f})")
    print("done")


if __name__ == "__main__":
    main()
