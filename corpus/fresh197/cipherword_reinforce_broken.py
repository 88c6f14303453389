# Toy "wordle-ish" RL: a frozen base encoder + LoRA head learns to pick the hidden
# letter slot from a clue vector.  REINFORCE with a moving-average baseline.
import os, time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(7)
VOCAB, DIM, BATCH, STEPS, EVAL_EVERY = 12, 32, 128, 1200, 200


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, rank=4, scale=2.0):
        super().__init__()
        out_d, in_d = base.weight.shape
        self.base = base
        self.lora_a = mx.random.normal((in_d, rank)) * 0.05
        self.lora_b = mx.zeros((rank, out_d))
        self.scale = scale

    def __call__(self, x):
        return self.base(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(VOCAB, DIM)
        self.hidden = nn.Linear(DIM, DIM)
        self.head = LoRALinear(nn.Linear(DIM, VOCAB), rank=4)

    def __call__(self, x):
        h = nn.gelu(self.embed(x))
        h = nn.gelu(self.hidden(h))
        return self.head(h)


def save_checkpoint(model: nn.Module, save_dir: str, checkpoint_file_name: str, step: str, timestamp: str):
    os.makedirs(save_dir, exist_ok=True)
    adapter_weights = dict(tree_flatten(model.trainable_parameters()))
    checkpoint_file = os.path.join(save_dir, f"{checkpoint_file_name}_{step}_{timestamp}.npz")
    mx.savez(checkpoint_file, **adapter_weights)
    print(f"\n--- Checkpoint saved to {checkpoint_file} ---")
    return checkpoint_file


# hidden mapping: clue letter i -> answer letter perm[i]
perm = mx.random.permutation(VOCAB)


def make_batch(n):
    idx = mx.random.randint(0, VOCAB, (n,))
    clue = mx.eye(VOCAB)[idx] + 0.1 * mx.random.normal((n, VOCAB))
    return clue, perm[idx]


policy = Policy()
policy.freeze()
policy.head.unfreeze(keys=["lora_a", "lora_b"])
print("trainable:", [k for k, _ in tree_flatten(policy.trainable_parameters())])

opt = optim.Adam(learning_rate=3e-2)


def pg_loss(model, clue, actions, adv):
    logp = nn.log_softmax(model(clue), axis=-1)
    chosen = mx.take_along_axis(logp, actions[:, None], axis=-1).squeeze(-1)
    return -(chosen * adv).mean()


loss_and_grad = nn.value_and_grad(policy, pg_loss)
baseline = 0.0
timestamp = time.strftime("%Y%m%d-%H%M%S")
adapter_path = __import__("pathlib").Path("/tmp/cipherword_adapters/cipher_lora.npz")
eval_win_rates = []

for step_counter in range(1, STEPS + 1):
    clue, answer = make_batch(BATCH)
    actions = mx.random.categorical(policy(clue))
    reward = (actions == answer).astype(mx.float32)
    r_mean = reward.mean().item()
    adv = reward - baseline
    baseline = 0.9 * baseline + 0.1 * r_mean
    loss, grads = loss_and_grad(policy, clue, actions, adv)
    opt.update(policy, grads)
    mx.eval(policy.parameters(), opt.state, loss)
    if step_counter % 100 == 0:
        print(f"train {step_counter:4d}/{STEPS} |{'#' * (step_counter * 20 // STEPS):<20}| "
              f"pg_loss={loss.item():+.4f} reward={r_mean:.3f} baseline={baseline:.3f}")
    if step_counter % EVAL_EVERY == 0:
        clue, answer = make_batch(512)
        win_rate = 100.0 * (mx.argmax(policy(clue), axis=-1) == answer).astype(mx.float32).mean().item()
        print(f"\n--- Evaluation at Step {step_counter:04d} ---")
        print(f"Win Rate: {win_rate:.2f}%")
        eval_win_rates.append(win_rate)

print("\n--- Training Finished ---")
save_checkpoint(policy, adapter_path.stem, "final", timestamp)
print("win-rate curve:", ", ".join(f"{w:.1f}" for w in eval_win_rates))
