# Tiny grid-cell box regressor (YOLO-ish head) trained with Adam,
# global-norm gradient clipping and gradient accumulation.
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(3)
S, FEAT, HID = 4, 12, 32          # grid cells per side, features per cell, hidden
N = 1024


class CellHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.w_in = mx.random.normal((FEAT, HID)) * (1.0 / FEAT ** 0.5)
        self.b_in = mx.zeros((HID,))
        self.w_box = mx.random.normal((HID, 5)) * (1.0 / HID ** 0.5)   # x, y, w, h, conf
        self.b_box = mx.zeros((5,))

    def __call__(self, x):
        h = nn.relu(x @ self.w_in + self.b_in)
        return h @ self.w_box + self.b_box


def make_data(n):
    feats = mx.random.normal((n, S * S, FEAT))
    proj = mx.random.normal((FEAT, 5)) * 0.5
    boxes = mx.sigmoid(feats @ proj)
    return feats, boxes


def box_loss(pred, target):
    xy = mx.mean(mx.square(mx.sigmoid(pred[..., :2]) - target[..., :2]))
    wh = mx.mean(mx.square(mx.sigmoid(pred[..., 2:4]) - target[..., 2:4]))
    conf = mx.mean(nn.losses.binary_cross_entropy(pred[..., 4], target[..., 4], with_logits=True))
    return 5.0 * xy + 5.0 * wh + conf


def clip_gradients(gradients, max_norm: float = 10.0):
    """Clip gradients by global norm"""
    # Compute total norm across all gradient values in the dictionary
    total_norm_sq = 0.0
    for grad in gradients.values():
        if isinstance(grad, mx.array):
            total_norm_sq += mx.sum(grad * grad).item()
    total_norm = mx.sqrt(total_norm_sq)

    # Compute scaling factor
    clip_coef = max_norm / (total_norm + 1e-6)
    clip_coef = mx.minimum(clip_coef, 1.0)

    # Scale all gradients
    return {k: g * clip_coef for k, g in gradients.items()}


model = CellHead()
mx.eval(model.parameters())
optimizer = optim.Adam(learning_rate=3e-3)
feats, boxes = make_data(N)
batch_size, accumulation_steps, num_epochs, max_grad_norm = 16, 2, 30, 1.0

for epoch in range(num_epochs):
    start_time = time.time()
    epoch_loss, batch_count, step_count = 0.0, 0, 0
    accumulated_loss, accumulated_grads = 0.0, None
    perm = mx.random.permutation(N)
    for batch_idx in range(N // batch_size):
        idx = perm[batch_idx * batch_size:(batch_idx + 1) * batch_size]
        images, targets = feats[idx], boxes[idx]

        def loss_fn(params):
            model.update(params)
            return box_loss(model(images), targets)

        loss, gradients = mx.value_and_grad(loss_fn)(model.parameters())
        loss = loss / accumulation_steps
        accumulated_loss += loss

        gradients = clip_gradients(gradients, max_grad_norm)

        if accumulated_grads is None:
            accumulated_grads = gradients
        else:
            accumulated_grads = {
                k: g1 + g2
                for k, g1, g2 in zip(
                    gradients.keys(), gradients.values(), accumulated_grads.values()
                )
            }

        step_count += 1
        if step_count == accumulation_steps:
            optimizer.update(model, accumulated_grads)
            mx.eval(model.parameters(), optimizer.state)
            epoch_loss += accumulated_loss.item() * accumulation_steps
            batch_count += 1
            step_count = 0
            accumulated_loss = 0.0
            accumulated_grads = None

    avg_loss = epoch_loss / batch_count / accumulation_steps
    print(f"Epoch [{epoch+1}/{num_epochs}], Average Loss: {avg_loss:.4f}, "
          f"Time: {time.time() - start_time:.2f}s")
