"""AlphaZero-style policy/value net trained on synthetic self-play positions."""
import logging
import time
import traceback

import mlx.core as mx
import mlx.nn as nn
import mlx.nn.losses as mx_losses
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s - %(levelname)s - %(message)s")
logger = logging.getLogger("chesszero")

N_MOVES = 64
BOARD_PLANES = 6


class ChessNet(nn.Module):
    def __init__(self, channels=16):
        super().__init__()
        self.conv = nn.Conv2d(BOARD_PLANES, channels, 3, padding=1)
        self.bn = nn.BatchNorm(channels)
        self.policy_conv = nn.Conv2d(channels, 2, 1)
        self.policy_fc = nn.Linear(2 * 8 * 8, N_MOVES)
        self.value_conv = nn.Conv2d(channels, 1, 1)
        self.value_fc1 = nn.Linear(8 * 8, 32)
        self.value_fc2 = nn.Linear(32, 1)

    def __call__(self, x):
        h = nn.relu(self.bn(self.conv(x)))
        p = nn.relu(self.policy_conv(h)).reshape(x.shape[0], -1)
        policy_logits = self.policy_fc(p)
        v = nn.relu(self.value_conv(h)).reshape(x.shape[0], -1)
        value = mx.tanh(self.value_fc2(nn.relu(self.value_fc1(v))))
        return policy_logits, value  # value: (batch, 1)


def generate_games(n_positions, key):
    """Fake self-play data: MCTS visit distributions and game results."""
    k1, k2, k3 = mx.random.split(key, 3)
    states = (mx.random.uniform(shape=(n_positions, 8, 8, BOARD_PLANES), key=k1) < 0.15).astype(mx.float32)
    teacher_p = mx.random.normal((8 * 8 * BOARD_PLANES, N_MOVES), key=k2) * 0.3
    teacher_v = mx.random.normal((8 * 8 * BOARD_PLANES,), key=k3) * 0.3
    flat = states.reshape(n_positions, -1)
    policies = mx.softmax(flat @ teacher_p, axis=-1)
    values = mx.tanh(flat @ teacher_v - mx.mean(flat @ teacher_v))  # shape (batch,)
    return states, policies, values


class Trainer:
    def __init__(self, model, batch_size=64):
        self.model = model
        self.batch_size = batch_size
        self.optimizer = optim.Adam(learning_rate=1e-3)

    def train_on_batch(self, batch):
        states, policies, values = batch
        try:

            def loss_fn(model_params, states, policies, values):
                self.model.update(model_params)
                pred_policies, pred_values = self.model(states)
                p_loss = mx_losses.cross_entropy(logits=pred_policies, targets=policies, reduction="mean")
                v_loss = mx_losses.mse_loss(predictions=pred_values.squeeze(), targets=values, reduction="mean")
                l2_reg = 1e-6
                l2_loss = sum(
                    l2_reg * mx.sum(mx.square(p[1]))
                    for p in tree_flatten(model_params)
                    if len(p[1].shape) > 1
                )
                total_loss = p_loss + v_loss + l2_loss
                return total_loss, (p_loss, v_loss, l2_loss)

            (loss, (p_loss, v_loss, l2_loss)), grads = mx.value_and_grad(loss_fn)(
                self.model.trainable_parameters(), states, policies, values
            )
            self.optimizer.update(self.model, grads)
            mx.eval(self.model.parameters(), self.optimizer.state)
            return loss.item(), p_loss.item(), v_loss.item(), l2_loss.item()
        except Exception as e:
            logger.error("Error in training step:")
            logger.error(f"Exception type: {type(e).__name__}")
            logger.error(f"Exception message: {str(e)}")
            logger.error(f"Traceback: {traceback.format_exc()}")
            logger.error(f"Batch shapes - States: {states.shape}, Policies: {policies.shape}, Values: {values.shape}")
            raise

    def train(self, n_epochs=12):
        key = mx.random.key(7)
        states, policies, values = generate_games(2048, key)
        n = states.shape[0]
        start = time.time()
        for epoch in range(n_epochs):
            self.model.train()
            perm = mx.random.permutation(n)
            tot = pol = val = 0.0
            nb = 0
            for i in range(0, n, self.batch_size):
                idx = perm[i : i + self.batch_size]
                loss, p_loss, v_loss, _ = self.train_on_batch((states[idx], policies[idx], values[idx]))
                tot, pol, val, nb = tot + loss, pol + p_loss, val + v_loss, nb + 1
            logger.info(
                f"Epoch {epoch + 1}/{n_epochs} | total {tot / nb:.4f} | policy {pol / nb:.4f} | value {val / nb:.4f}"
            )
        logger.info(f"Training completed in {time.time() - start:.1f}s")


if __name__ == "__main__":
    mx.random.seed(0)
    model = ChessNet()
    mx.eval(model.parameters())
    Trainer(model).train()
