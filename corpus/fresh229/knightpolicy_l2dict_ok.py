import logging
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")


class PolicyValueNet(nn.Module):
    def __init__(self, n_in=64, hidden=96, n_moves=32):
        super().__init__()
        self.trunk1 = nn.Linear(n_in, hidden)
        self.trunk2 = nn.Linear(hidden, hidden)
        self.policy_head = nn.Linear(hidden, n_moves)
        self.value_head = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = nn.relu(self.trunk1(x))
        h = nn.relu(self.trunk2(h))
        return self.policy_head(h), mx.tanh(self.value_head(h)).squeeze(-1)


def make_selfplay_buffer(n=512, n_in=64, n_moves=32, seed=3):
    rng = np.random.default_rng(seed)
    boards = rng.integers(-1, 2, size=(n, n_in)).astype(np.float32)
    W = rng.normal(size=(n_in, n_moves)).astype(np.float32)
    logits = boards @ W / 4.0
    pol = np.exp(logits - logits.max(1, keepdims=True))
    pol /= pol.sum(1, keepdims=True)
    val = np.tanh(boards[:, :8].sum(1) / 3.0).astype(np.float32)
    return mx.array(boards), mx.array(pol.astype(np.float32)), mx.array(val)


class Trainer:
    def __init__(self):
        self.logger = logging.getLogger("chesszero")
        self.model = PolicyValueNet()
        self.optimizer = optim.Adam(learning_rate=1e-3)
        mx.eval(self.model.parameters())

    def train_on_batch(self, states, policies, values):
        def loss_fn(model_params, states, policies, values):
            self.model.update(model_params)
            pred_policies, pred_values = self.model(states)

            # Policy loss calculation
            p_loss = -mx.mean(mx.sum(policies * nn.log_softmax(pred_policies, axis=-1), axis=-1))

            # Value loss calculation
            v_loss = mx.mean(mx.square(values - pred_values))

            # Debug loss components
            self.logger.info(f"Policy loss: {p_loss.item()}")
            self.logger.info(f"Value loss: {v_loss.item()}")

            total_loss = p_loss + v_loss  # l2_reg
            return total_loss, (p_loss, v_loss)

        # Compute loss and gradients
        (loss, (p_loss, v_loss)), grads = mx.value_and_grad(loss_fn)(
            self.model.parameters(), states, policies, values
        )

        # Update model parameters
        self.optimizer.update(self.model, grads)
        mx.eval(self.model.parameters(), self.optimizer.state)
        return loss.item(), p_loss.item(), v_loss.item()


def main():
    mx.random.seed(0)
    np.random.seed(0)
    states, policies, values = make_selfplay_buffer()
    trainer = Trainer()
    bs = 64
    t0 = time.time()
    for it in range(25):
        perm = np.random.permutation(states.shape[0])
        tot = []
        for i in range(0, len(perm), bs):
            idx = mx.array(perm[i:i + bs])
            tot.append(trainer.train_on_batch(states[idx], policies[idx], values[idx]))
        tot = np.array(tot).mean(0)
        trainer.logger.info(
            f"iteration {it}: total={tot[0]:.4f} policy={tot[1]:.4f} value={tot[2]:.4f}"
        )
    trainer.logger.info(f"training done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
