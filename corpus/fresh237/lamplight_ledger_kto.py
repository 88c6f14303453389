import copy
import os
import random
import tempfile

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

VOCAB = 24
PAD = 0
START = 1
BETA = 0.5
LAMBDA_D = 1.0
LAMBDA_U = 1.33
BATCH = 16
TOTAL_STEPS = 200
RESUME_AT = 100
PEAK_LR = 3e-3
WARMUP = 30

random.seed(3)
mx.random.seed(3)


def lamp_entry(rng):
    n = rng.randint(5, 9)
    prompt = [rng.randrange(2, VOCAB) for _ in range(n)]
    good = rng.random() < 0.45
    if good:
        comp = [2 + (prompt[-1] - 2 + 3 * k + 3) % (VOCAB - 2) for k in range(3)]
    else:
        comp = [rng.randrange(2, VOCAB) for _ in range(3)]
    return prompt, comp, good


class RecurrentScorer(nn.Module):
    def __init__(self, vocab=VOCAB, dim=24, hidden=64):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.rnn = nn.GRU(dim, hidden)
        self.out = nn.Linear(hidden, vocab)

    def __call__(self, ids):
        return self.out(self.rnn(self.emb(ids)))


def pack(rows):
    width = max(len(p) + len(c) + 1 for p, c in rows)
    seqs, starts, ends = [], [], []
    for p, c in rows:
        s = [START] + p + c
        seqs.append(s + [PAD] * (width - len(s)))
        starts.append(len(p) + 1)
        ends.append(len(s))
    return mx.array(seqs, dtype=mx.int32), mx.array(starts), mx.array(ends)


def completion_logps(model, seqs, starts, ends):
    logits = model(seqs[:, :-1])
    tgt = seqs[:, 1:]
    lp = mx.take_along_axis(nn.log_softmax(logits, axis=-1), tgt[..., None], axis=-1).squeeze(-1)
    pos = mx.arange(tgt.shape[1])[None, :] + 1
    m = (pos >= starts[:, None]) & (pos < ends[:, None])
    return (lp * m).sum(-1)


def make_batch(data, idx):
    rows = [data[i] for i in idx]
    pairs = [(p, c) for p, c, _ in rows]
    shifted = [(rows[k][0], rows[(k + 1) % len(rows)][1]) for k in range(len(rows))]
    labels = mx.array([g for _, _, g in rows])
    return pack(pairs), pack(shifted), labels


def kto_loss(model, ref_main, ref_kl, main, kl, labels):
    pol = completion_logps(model, *main)
    pol_kl = completion_logps(model, *kl)
    z0 = mx.stop_gradient(mx.maximum((pol_kl - ref_kl).mean(), 0.0))
    r = pol - ref_main
    des = LAMBDA_D * (1 - mx.sigmoid(BETA * (r - z0)))
    und = LAMBDA_U * (1 - mx.sigmoid(BETA * (z0 - r)))
    per = mx.where(labels, des, und)
    lab = labels.astype(mx.float32)
    r_des = (r * lab).sum() / mx.maximum(lab.sum(), 1)
    r_und = (r * (1 - lab)).sum() / mx.maximum((1 - lab).sum(), 1)
    return per.mean(), (z0, r_des, r_und)


def schedule():
    warm = optim.linear_schedule(0.0, PEAK_LR, WARMUP)
    decay = optim.cosine_decay(PEAK_LR, TOTAL_STEPS - WARMUP, 1e-4)
    return optim.join_schedules([warm, decay], [WARMUP])


def rule_hit_rate(model, data):
    hits = 0
    for p, c, g in data:
        seq = [START] + p
        for _ in range(3):
            logits = model(mx.array([seq], dtype=mx.int32))[0, -1]
            seq.append(int(mx.argmax(logits).item()))
        want = [2 + (p[-1] - 2 + 3 * k + 3) % (VOCAB - 2) for k in range(3)]
        hits += int(seq[-3:] == want)
    return hits / len(data)


def run_segment(model, ref, opt, data, start, stop, rng, header):
    step_fn = nn.value_and_grad(model, kto_loss)
    if header:
        print(f"{'step':>5} {'lr':>9} {'loss':>7} {'kl_z0':>7} {'r_good':>8} {'r_bad':>8}")
    for step in range(start, stop):
        idx = rng.sample(range(len(data)), BATCH)
        main, kl, labels = make_batch(data, idx)
        ref_main = mx.stop_gradient(completion_logps(ref, *main))
        ref_kl = mx.stop_gradient(completion_logps(ref, *kl))
        lr_now = opt.learning_rate.item()
        (loss, (z0, rd, ru)), grads = step_fn(model, ref_main, ref_kl, main, kl, labels)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, z0, rd, ru)
        s = step + 1
        if s <= 3 or s % 25 == 0 or s == stop:
            print(f"{s:5d} {lr_now:9.2e} {loss.item():7.4f} {z0.item():7.3f} {rd.item():+8.3f} {ru.item():+8.3f}")


def main():
    rng = random.Random(5)
    pretrain = [lamp_entry(rng) for _ in range(1500)]
    feedback = [lamp_entry(rng) for _ in range(1200)]
    probe = [lamp_entry(rng) for _ in range(60)]

    base = RecurrentScorer()
    warm_opt = optim.Adam(learning_rate=2e-3)
    lm_step = nn.value_and_grad(base, lambda m, s, a, b: -completion_logps(m, s, a, b).mean())
    for i in range(60):
        rows = [(p, c) for p, c, _ in rng.sample(pretrain, 32)]
        l, g = lm_step(base, *pack(rows))
        warm_opt.update(base, g)
        mx.eval(base.parameters(), warm_opt.state)
    print(f"pretrained on mixed logs: completion nll {l.item():.3f} nats")

    reference = copy.deepcopy(base)
    reference.freeze()
    ref_rate = rule_hit_rate(reference, probe)
    print(f"reference rule hit-rate {ref_rate:.3f} (desirable share in feedback {sum(g for *_, g in feedback) / len(feedback):.2f})")

    policy = copy.deepcopy(base)
    opt = optim.AdamW(learning_rate=schedule(), weight_decay=0.01)
    run_segment(policy, reference, opt, feedback, 0, RESUME_AT, rng, True)

    ckdir = tempfile.mkdtemp(prefix="kto_ck_")
    mx.save_safetensors(os.path.join(ckdir, "policy.safetensors"), dict(tree_flatten(policy.parameters())))
    mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
    print(f"checkpoint written at step {RESUME_AT}; reloading into a fresh process state")
    del policy, opt

    policy = RecurrentScorer()
    policy.load_weights(os.path.join(ckdir, "policy.safetensors"))
    opt = optim.AdamW(learning_rate=schedule(), weight_decay=0.01)
    opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
    print(f"resumed: optimizer step {int(opt.state['step'].item())}, lr {opt.learning_rate.item():.2e}")
    run_segment(policy, reference, opt, feedback, RESUME_AT, TOTAL_STEPS, rng, True)

    print(f"rule hit-rate: reference {ref_rate:.3f} -> policy {rule_hit_rate(policy, probe):.3f}")


if __name__ == "__main__":
    main()
