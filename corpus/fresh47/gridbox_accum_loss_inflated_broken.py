"""Tiny single-object grid detector (YOLO-ish) on synthetic 16x16 images.

Each image holds one bright rectangle.  The net predicts, for each cell of a
4x4 grid, [objectness, cx, cy, w, h].  Trained with gradient accumulation.
"""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

S = 4          # grid size
IMG = 16
CELL = IMG // S


def make_dataset(n, rng):
    images = np.zeros((n, IMG, IMG, 1), dtype=np.float32)
    targets = np.zeros((n, S, S, 5), dtype=np.float32)
    for i in range(n):
        w = rng.integers(3, 7)
        h = rng.integers(3, 7)
        x0 = rng.integers(0, IMG - w + 1)
        y0 = rng.integers(0, IMG - h + 1)
        images[i, y0:y0 + h, x0:x0 + w, 0] = 1.0
        images[i] += rng.normal(0, 0.1, size=(IMG, IMG, 1)).astype(np.float32)
        cx, cy = x0 + w / 2.0, y0 + h / 2.0
        gx, gy = min(int(cx // CELL), S - 1), min(int(cy // CELL), S - 1)
        targets[i, gy, gx] = [1.0, cx / CELL - gx, cy / CELL - gy, w / IMG, h / IMG]
    return images, targets


class TinyYOLO(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(
            nn.Conv2d(1, 16, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
        )
        self.head = nn.Conv2d(32, 5, 1)

    def __call__(self, x):
        return self.head(self.backbone(x))


def yolo_loss(pred, target):
    obj = target[..., 0]
    conf_loss = nn.losses.binary_cross_entropy(pred[..., 0], obj, reduction="mean")
    box_err = mx.sum(mx.square(mx.sigmoid(pred[..., 1:]) - target[..., 1:]), axis=-1)
    box_loss = mx.sum(obj * box_err) / mx.maximum(mx.sum(obj), 1.0)
    return conf_loss + 5.0 * box_loss


def clip_gradients(gradients, max_norm=10.0):
    total_norm = mx.sqrt(sum(mx.sum(g * g) for _, g in tree_flatten(gradients)))
    clip_coef = mx.minimum(max_norm / (total_norm + 1e-6), 1.0)
    return tree_map(lambda g: g * clip_coef, gradients)


def train():
    rng = np.random.default_rng(0)
    mx.random.seed(0)
    images, targets = make_dataset(1024, rng)
    batch_size = 16
    accumulation_steps = 4
    num_epochs = 20

    batch_images = [mx.array(images[i:i + batch_size]) for i in range(0, len(images), batch_size)]
    batch_targets = [mx.array(targets[i:i + batch_size]) for i in range(0, len(targets), batch_size)]

    model = TinyYOLO()
    mx.eval(model.parameters())
    optimizer = optim.Adam(learning_rate=2e-3)

    for epoch in range(num_epochs):
        epoch_loss = 0.0
        batch_count = 0
        accumulated_loss = 0.0
        accumulated_grads = None
        step_count = 0
        start_time = time.time()
        total_batches = len(batch_images)

        for batch_idx in range(total_batches):
            images_b = batch_images[batch_idx]
            targets_b = batch_targets[batch_idx]

            def loss_fn(params):
                model.update(params)
                predictions = model(images_b)
                return yolo_loss(predictions, targets_b)

            loss, gradients = mx.value_and_grad(loss_fn)(model.parameters())
            loss = loss / accumulation_steps  # Normalize loss for gradient accumulation
            accumulated_loss += loss

            gradients = clip_gradients(gradients)
            if accumulated_grads is None:
                accumulated_grads = gradients
            else:
                accumulated_grads = tree_map(lambda a, b: a + b, accumulated_grads, gradients)

            step_count += 1
            if step_count == accumulation_steps:
                optimizer.update(model, accumulated_grads)
                mx.eval(model.parameters(), optimizer.state)

                epoch_loss += accumulated_loss.item() * accumulation_steps
                batch_count += 1
                step_count = 0
                accumulated_loss = 0.0
                accumulated_grads = None

                if batch_count % 4 == 0:
                    print(
                        f"Epoch [{epoch+1}/{num_epochs}], "
                        f"Batch [{batch_count}/{total_batches // accumulation_steps}], "
                        f"Loss: {loss.item():.4f}"
                    )

        avg_loss = epoch_loss / batch_count
        print(
            f"Epoch [{epoch+1}/{num_epochs}], "
            f"Average Loss: {avg_loss:.4f}, "
            f"Time: {time.time() - start_time:.2f}s"
        )

    # one plain pass over the training set with the final weights
    full = [yolo_loss(model(bi), bt).item() for bi, bt in zip(batch_images, batch_targets)]
    print(f"Final train-set loss (eval pass): {sum(full) / len(full):.4f}")
    print(f"Last epoch reported Average Loss: {avg_loss:.4f}")


if __name__ == "__main__":
    train()
