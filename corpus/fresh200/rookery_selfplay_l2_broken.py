"""Tiny AlphaZero-style policy/value trainer on synthetic board positions.

Positions are random 8x8 feature planes; the "MCTS" targets come from a
fixed teacher network (soft visit distributions over 32 moves, plus a game
outcome in [-1, 1]).  The student is trained with policy CE + value MSE + L2.
"""
import logging
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
logger = logging.getLogger("rookery")

N_MOVES = 32
BOARD = 64


class ChessNet(nn.Module):
    def __init__(self, hidden=96):
        super().__init__()
        self.trunk1 = nn.Linear(BOARD, hidden)
        self.trunk2 = nn.Linear(hidden, hidden)
        self.policy_head = nn.Linear(hidden, N_MOVES)
        self.value_head = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = nn.relu(self.trunk1(x))
        h = nn.relu(self.trunk2(h))
        policy = mx.softmax(self.policy_head(h), axis=-1)
        value = mx.tanh(self.value_head(h)).squeeze(-1)
        return policy, value


_tk2, _tk3 = mx.random.split(mx.random.key(7), 2)
W_POL = mx.random.normal((BOARD, N_MOVES), key=_tk2) * 0.35
W_VAL = mx.random.normal((BOARD,), key=_tk3) * 0.2


def make_games(key, n_positions):
    states = mx.random.normal((n_positions, BOARD), key=key)
    w_pol, w_val = W_POL, W_VAL
    policies = mx.softmax(states @ w_pol, axis=-1)
    values = mx.tanh(states @ w_val)
    return states, policies, values


def create_batches(games, batch_size):
    states, policies, values = games
    n = states.shape[0]
    perm = mx.random.permutation(n)
    out = []
    for i in range(0, n, batch_size):
        idx = perm[i : i + batch_size]
        out.append((states[idx], policies[idx], values[idx]))
    return out


class Trainer:
    def __init__(self):
        mx.random.seed(11)
        self.model = ChessNet()
        self.optimizer = optim.Adam(learning_rate=2e-3)
        self.batch_size = 64
        self.l2_reg = 1e-3

    def train_on_batch(self, batch):
        states, policies, values = batch

        def loss_fn(model, states, policies, values):
            pred_policies, pred_values = model(states)
            smoothing = 0.1
            smooth_policies = (1 - smoothing) * policies + smoothing / policies.shape[1]
            p_loss = -mx.mean(mx.sum(smooth_policies * mx.log(pred_policies + 1e-8), axis=1))
            v_loss = mx.mean(mx.square(values - pred_values))
            l2_loss = self.l2_reg * sum(
                mx.sum(mx.square(p[1])) for p in tree_flatten(model.parameters())
            )
            total_loss = p_loss + v_loss + l2_loss
            return total_loss, (p_loss, v_loss, l2_loss)

        (loss, (p_loss, v_loss, l2_loss)), grads = nn.value_and_grad(self.model, loss_fn)(
            self.model, states, policies, values
        )
        self.optimizer.update(self.model, grads)
        mx.eval(self.model.parameters(), self.optimizer.state, loss, p_loss, v_loss, l2_loss)
        return loss.item(), p_loss.item(), v_loss.item(), l2_loss.item()

    def train(self, n_epochs=8):
        for epoch in range(n_epochs):
            epoch_start_time = time.time()
            logger.info(f"Epoch {epoch + 1}/{n_epochs}")
            games = make_games(mx.random.key(100 + epoch), 1024)
            batches = create_batches(games, self.batch_size)

            logger.info(f"Training on game data in epoch {epoch + 1}...")
            total_loss = 0
            n_batches = 0
            policy_loss = 0
            value_loss = 0

            for batch_idx, batch in enumerate(batches):
                loss, p_loss, v_loss, l2_loss = self.train_on_batch(batch)
                total_loss += loss
                policy_loss += p_loss
                value_loss += v_loss
                l2_loss += l2_loss
                n_batches += 1

            avg_loss = total_loss / n_batches if n_batches > 0 else 0
            avg_policy_loss = policy_loss / n_batches if n_batches > 0 else 0
            avg_value_loss = value_loss / n_batches if n_batches > 0 else 0
            avg_l2_loss = l2_loss / n_batches if n_batches > 0 else 0

            epoch_time = time.time() - epoch_start_time
            logger.info(f"Epoch completed in {epoch_time:.1f}s")
            logger.info(f"Average policy loss: {avg_policy_loss:.4f}")
            logger.info(f"Average l2 loss: {avg_l2_loss:.4f}")
            logger.info(f"Average value loss: {avg_value_loss:.4f}")
            logger.info(f"Average total loss: {avg_loss:.4f}")


if __name__ == "__main__":
    Trainer().train()
