# Tiny DPO preference fine-tune of a next-token MLP against a frozen reference copy.
import time
import copy
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

V, T, B, D = 256, 16, 16, 32
ITERS, STEPS_PER_REPORT, BETA = 300, 300, 0.1
mx.random.seed(7)


class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, D)
        self.l1 = nn.Linear(D, 64)
        self.out = nn.Linear(64, V)

    def __call__(self, x):
        return self.out(nn.gelu(self.l1(self.emb(x))))


def make_batch():
    start = mx.random.randint(0, V, (B, 1))
    steps = mx.arange(T)[None, :]
    chosen = (start + 7 * steps) % V          # preferred: a fixed stride walk
    rejected = mx.random.randint(0, V, (B, T))  # dispreferred: noise
    return chosen, rejected


def seq_logps(model, seq):
    logits = model(seq[:, :-1])
    logp = nn.log_softmax(logits, axis=-1)
    tok = mx.take_along_axis(logp, seq[:, 1:, None], axis=-1).squeeze(-1)
    return tok.sum(-1), logp


policy = Policy()
reference = copy.deepcopy(policy)
reference.freeze()
mx.eval(policy.parameters(), reference.parameters())


def dpo_loss(model, chosen, rejected):
    pc, logp_c = seq_logps(model, chosen)
    pr, _ = seq_logps(model, rejected)
    rc, _ = seq_logps(reference, chosen)
    rr, _ = seq_logps(reference, rejected)
    r_c = BETA * (pc - rc)
    r_r = BETA * (pr - rr)
    loss = -nn.log_sigmoid(r_c - r_r).mean()
    entropy = -(mx.exp(logp_c) * logp_c).sum(-1).mean()
    metrics = {
        "accuracies": (r_c > r_r).astype(mx.float32).mean(),
        "margins": (r_c - r_r).mean(),
        "entropy": entropy,
    }
    rewards = mx.stack([r_c.mean(), r_r.mean()])
    return loss, (rewards, metrics)


loss_and_grad = nn.value_and_grad(policy, dpo_loss)
optimizer = optim.AdamW(learning_rate=3e-3, weight_decay=0.0)
state = [policy.state, optimizer.state]

losses = 0
rewards = mx.zeros((2,))
steps = 0
accumulated_metrics = {"accuracies": 0, "margins": 0, "entropy": 0}
start = time.perf_counter()
for it in range(1, ITERS + 1):
    chosen, rejected = make_batch()
    (lvalue, (reward, metrics)), grads = loss_and_grad(policy, chosen, rejected)
    optimizer.update(policy, grads)
    losses += lvalue
    rewards += reward
    steps += 1

    for k, v in metrics.items():
        accumulated_metrics[k] += v

    mx.eval(state, losses, rewards)

    if it % 25 == 0:
        print(f"it {it:4d} | running loss {losses.item() / steps:.4f} | active {mx.get_active_memory() / 1e6:.1f} MB", flush=True)

    if it % STEPS_PER_REPORT == 0 or it == ITERS:
        stop = time.perf_counter()
        avg = {k: v.item() / steps for k, v in accumulated_metrics.items()}
        r = rewards.tolist()
        print(
            f"Iter {it}: loss {losses.item() / steps:.3f}, chosen_r {r[0] / steps:.3f}, "
            f"rejected_r {r[1] / steps:.3f}, acc {avg['accuracies']:.3f}, margin {avg['margins']:.3f}, "
            f"entropy {avg['entropy']:.3f}, it/s {STEPS_PER_REPORT / (stop - start):.2f}, "
            f"peak_mem {mx.get_peak_memory() / 1e9:.3f}GB",
            flush=True,
        )
        losses = 0
        rewards = mx.zeros((2,))
        steps = 0
        accumulated_metrics = {k: 0 for k in accumulated_metrics}
        start = time.perf_counter()

n_train = sum(v.size for _, v in tree_flatten(policy.trainable_parameters()))
print(f"done: {n_train} trainable params, final peak_mem {mx.get_peak_memory() / 1e9:.3f}GB")
