# Fine-tune daemon: takes LoRA jobs from a queue, streams progress as
# server-sent events, checkpoints adapters and optimizer state, and retries a
# job from its last checkpoint when the worker is asked to stop.
#
# Domain: canal lock-keeper passage slips. A slip is 6 tokens (boat class,
# direction, lock number, ...) and the reply is the 6-token log line the lock
# office wants. The base model learned last season's log format; each job
# adapts it to a new office's format.
import json
import os
import shutil
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten
from mlx_lm.models import starcoder2
from mlx_lm.tuner.utils import linear_to_lora_layers

VOCAB = 32
SEP = 30
PAD = 31
SLIP = 6
T0 = time.time()


def emit(event, **data):
    data["t"] = round(time.time() - T0, 2)
    print(f"event: {event}")
    print("data: " + json.dumps(data, sort_keys=True))
    print("", flush=True)


def model_args():
    return starcoder2.ModelArgs(
        model_type="starcoder2",
        hidden_size=32,
        num_hidden_layers=2,
        intermediate_size=64,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=VOCAB,
        tie_word_embeddings=True,
    )


def office_format(slips, shift, reverse):
    out = (slips + shift) % 30
    return out[:, ::-1] if reverse else out


def make_slips(rng, n, dup_frac):
    slips = rng.integers(0, 30, size=(n, SLIP))
    n_dup = int(n * dup_frac)
    idx = rng.integers(0, n - n_dup, size=n_dup)
    slips[n - n_dup:] = slips[idx]
    return slips


def to_sequences(slips, replies):
    n = len(slips)
    seq = np.concatenate([slips, np.full((n, 1), SEP), replies], axis=1)
    mask = np.zeros_like(seq, dtype=np.float32)
    mask[:, SLIP + 1:] = 1.0  # loss only on the reply tokens
    return mx.array(seq), mx.array(mask)


def masked_ce(model, seq, mask):
    logits = model(seq[:, :-1])
    tgt = seq[:, 1:]
    m = mask[:, 1:]
    ce = nn.losses.cross_entropy(logits, tgt, reduction="none")
    return (ce * m).sum() / m.sum()


def exact_match(model, seq):
    logits = model(seq[:, :-1])
    pred = mx.argmax(logits[:, SLIP:], axis=-1)
    ok = mx.all(pred == seq[:, SLIP + 1:], axis=1)
    return ok.astype(mx.float32).mean().item()


class StopRequested(Exception):
    pass


def pretrain_base(workdir, rng):
    """Quiet pretraining of the base on last season's format; only heartbeats."""
    mx.random.seed(11)
    model = starcoder2.Model(model_args())
    opt = optim.AdamW(learning_rate=5e-3, weight_decay=0.0)
    slips = make_slips(rng, 4096, 0.0)
    seq, mask = to_sequences(slips, office_format(slips, 3, False))
    lg = nn.value_and_grad(model, masked_ce)
    for step in range(1, 401):
        idx = mx.array(rng.integers(0, len(slips), size=32))
        loss, g = lg(model, seq[idx], mask[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 100 == 0:
            emit("heartbeat", worker="base-prep", note="still working")
    path = os.path.join(workdir, "base.safetensors")
    model.save_weights(path)
    emit("base_ready", path=os.path.basename(path), final_batch_loss=round(loss.item(), 4))
    return path


def build_model(base_path, job):
    model = starcoder2.Model(model_args())
    model.load_weights(base_path)
    model.freeze()
    linear_to_lora_layers(
        model,
        2,
        {"rank": job["rank"], "scale": job["scale"], "dropout": 0.0,
         "keys": ["self_attn.q_proj", "self_attn.v_proj", "mlp.c_fc"]},
    )
    return model


def build_optimizer(job):
    warm = job["warmup"]
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, job["lr"], warm),
         optim.cosine_decay(job["lr"], job["iters"] - warm, job["lr"] * 0.05)],
        [warm],
    )
    return optim.Adam(learning_rate=sched)


def prepare_data(job, rng):
    slips = make_slips(rng, job["n_slips"], job["dup_frac"])
    uniq, first = np.unique(slips, axis=0, return_index=True)
    kept = slips[np.sort(first)]
    replies = office_format(kept, job["shift"], job["reverse"])
    noisy = rng.random(replies.shape) < job["label_noise"]
    replies = np.where(noisy, rng.integers(0, 30, size=replies.shape), replies)
    n_val = len(kept) // 8
    perm = rng.permutation(len(kept))
    tr, va = perm[n_val:], perm[:n_val]
    emit("data_prep", job=job["id"], raw=len(slips), duplicates_dropped=len(slips) - len(kept),
         train=len(tr), valid=len(va), label_noise=job["label_noise"])
    clean = office_format(kept[va], job["shift"], job["reverse"])
    return to_sequences(kept[tr], replies[tr]), to_sequences(kept[va], replies[va]), to_sequences(kept[va], clean)


def save_ckpt(model, opt, ckdir, step):
    os.makedirs(ckdir, exist_ok=True)
    adapters = dict(tree_flatten(model.trainable_parameters()))
    mx.save_safetensors(os.path.join(ckdir, "adapters.safetensors"), adapters)
    mx.save_safetensors(os.path.join(ckdir, "optimizer.safetensors"), dict(tree_flatten(opt.state)))
    with open(os.path.join(ckdir, "state.json"), "w") as f:
        json.dump({"step": step}, f)


def load_ckpt(model, opt, ckdir):
    model.load_weights(os.path.join(ckdir, "adapters.safetensors"), strict=False)
    opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "optimizer.safetensors")).items()))
    with open(os.path.join(ckdir, "state.json")) as f:
        return json.load(f)["step"]


def run_job(job, base_path, workdir, data, attempt, stop_at):
    (tr_seq, tr_mask), (va_seq, va_mask), (clean_seq, _) = data
    model = build_model(base_path, job)
    opt = build_optimizer(job)
    ckdir = os.path.join(workdir, job["id"])
    start = 0
    if attempt > 1:
        start = load_ckpt(model, opt, ckdir)
        emit("resumed", job=job["id"], from_step=start, optimizer_step=int(opt.state["step"].item()))
    else:
        n_tr = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
        n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
        base_val = masked_ce(model, va_seq, va_mask).item()
        emit("job_start", job=job["id"], trainable=n_tr, total=n_all,
             val_loss_before=round(base_val, 4), uniform_guess=round(float(np.log(VOCAB)), 4))
    lg = nn.value_and_grad(model, masked_ce)
    rs = np.random.default_rng(1000 + start)
    window = []
    for step in range(start + 1, job["iters"] + 1):
        if stop_at is not None and step == stop_at:
            raise StopRequested(step)
        lr = opt.learning_rate.item()
        idx = mx.array(rs.integers(0, tr_seq.shape[0], size=job["batch"]))
        loss, g = lg(model, tr_seq[idx], tr_mask[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if step == 1 or step % job["report_every"] == 0:
            emit("progress", job=job["id"], step=step, lr=float(f"{lr:.3e}"),
                 train_loss=round(float(np.mean(window)), 4),
                 val_loss=round(masked_ce(model, va_seq, va_mask).item(), 4))
            window = []
        if step % job["save_every"] == 0:
            save_ckpt(model, opt, ckdir, step)
            emit("checkpoint", job=job["id"], step=step)
    val = masked_ce(model, va_seq, va_mask).item()
    em = exact_match(model, va_seq)
    em_clean = exact_match(model, clean_seq)
    return val, em, em_clean


def main():
    rng = np.random.default_rng(5)
    workdir = tempfile.mkdtemp()
    emit("daemon_start", workdir_kind="tempdir", queue_size=2)
    base_path = pretrain_base(workdir, rng)
    jobs = [
        {"id": "office-north", "shift": 7, "reverse": False, "label_noise": 0.0, "dup_frac": 0.15,
         "n_slips": 2000, "iters": 180, "warmup": 30, "lr": 3e-3, "rank": 8, "scale": 4.0,
         "batch": 16, "report_every": 20, "save_every": 40},
        {"id": "office-weir", "shift": 19, "reverse": False, "label_noise": 0.12, "dup_frac": 0.3,
         "n_slips": 2000, "iters": 200, "warmup": 30, "lr": 3e-3, "rank": 8, "scale": 4.0,
         "batch": 16, "report_every": 25, "save_every": 100},
    ]
    for job in jobs:
        emit("job_queued", job=job["id"])
    # the operator asks the worker to stop office-north mid-run once
    stop_plan = {"office-north": 130}
    for job in jobs:
        data = prepare_data(job, rng)
        attempt = 1
        while True:
            try:
                val, em, em_clean = run_job(job, base_path, workdir, data, attempt,
                                         stop_plan.pop(job["id"], None) if attempt == 1 else None)
                break
            except StopRequested as e:
                emit("preempted", job=job["id"], at_step=e.args[0], action="retry from checkpoint")
                attempt += 1
        va_seq, va_mask = data[1]
        base = starcoder2.Model(model_args())
        base.load_weights(base_path)
        base_val = masked_ce(base, va_seq, va_mask).item()
        # every reply token is replaced with prob p by a uniform draw over 30 symbols
        p = job["label_noise"]
        q = (1 - p) + p / 30
        floor = 0.0 if p == 0 else -(q * np.log(q) + (1 - q) * np.log((1 - q) / 29))
        emit("job_done", job=job["id"], attempts=attempt, val_loss=round(val, 4),
             frozen_base_val_loss=round(base_val, 4), label_noise_floor=round(float(floor), 4),
             exact_match=round(em, 3), exact_match_vs_clean_replies=round(em_clean, 3))
    shutil.rmtree(workdir)
    emit("daemon_idle", jobs_done=len(jobs))


if __name__ == "__main__":
    main()
