"""Keyword spotting on synthetic log-mel frames with a small state space model.

Ten spoken-command classes are rendered as short log-mel spectrograms: each word is a
sequence of three formant "syllables" sweeping across the mel bins, plus background noise.
A two-layer diagonal-ish state space stack reads the frames, logits are mean-pooled over
time and trained with cross entropy.
"""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np


CLASSES = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]


class SpeechCommandsSynth:
    def __init__(self, n_samples, n_frames=40, n_mels=16, noise=0.35, seed=0):
        rng = np.random.default_rng(seed)
        self.classes = CLASSES
        # every word: three syllables, each a (centre bin, slope) pair
        word_rng = np.random.default_rng(1234)
        self.templates = word_rng.uniform(2, n_mels - 3, size=(len(CLASSES), 3))
        self.slopes = word_rng.uniform(-0.15, 0.15, size=(len(CLASSES), 3))
        labels = rng.integers(0, len(CLASSES), size=n_samples)
        feats = np.zeros((n_samples, n_frames, n_mels), dtype=np.float32)
        bins = np.arange(n_mels)[None, :]
        seg = n_frames // 3
        for i, lab in enumerate(labels):
            shift = rng.integers(-2, 3)
            for s in range(3):
                t = np.arange(s * seg, (s + 1) * seg)
                centre = self.templates[lab, s] + self.slopes[lab, s] * (t - s * seg) + shift * 0.3
                energy = np.exp(-0.5 * ((bins - centre[:, None]) / 1.2) ** 2)
                feats[i, t] += energy
            feats[i] += noise * rng.standard_normal((n_frames, n_mels))
        self.features = feats
        self.labels = labels.astype(np.int32)

    def create_batches(self, batch_size, shuffle=True, rng=None):
        idx = np.arange(len(self.labels))
        if shuffle:
            (rng or np.random).shuffle(idx)
        for s in range(0, len(idx), batch_size):
            b = idx[s : s + batch_size]
            yield mx.array(self.features[b]), mx.array(self.labels[b])


class StateSpace(nn.Module):
    """x_{t+1} = A_d x_t + B_d u_t ;  y_t = C x_t + D u_t (zero-order hold, small dt)."""

    def __init__(self, dim_input, dim_state, dim_output):
        super().__init__()
        self.dim_input = dim_input
        self.dim_state = dim_state
        self.dim_output = dim_output
        self.A = nn.Linear(dim_state, dim_state, bias=False)
        self.B = nn.Linear(dim_input, dim_state, bias=False)
        self.C = nn.Linear(dim_state, dim_output, bias=False)
        self.D = nn.Linear(dim_input, dim_output, bias=False)
        self.log_dt = mx.zeros((1,))
        self.A.weight = -0.5 * mx.eye(dim_state) + 0.1 * mx.random.normal((dim_state, dim_state))
        self.B.weight = 0.1 * mx.random.normal((dim_state, dim_input))
        self.C.weight = 0.1 * mx.random.normal((dim_output, dim_state))
        self.D.weight = 0.01 * mx.random.normal((dim_output, dim_input))

    def discretize(self):
        dt = mx.exp(self.log_dt)
        A_discrete = mx.eye(self.dim_state) + dt * self.A.weight
        B_discrete = dt * self.B.weight
        return A_discrete, B_discrete

    def __call__(self, u, initial_state=None):
        batch_size, seq_len, _ = u.shape
        A_d, B_d = self.discretize()
        C = self.C.weight
        D = self.D.weight
        if initial_state is None:
            internal_state = mx.zeros((batch_size, self.dim_state))
        else:
            internal_state = initial_state
        outputs = []
        for t in range(seq_len):
            input_signal = u[:, t, :]
            internal_state = mx.matmul(internal_state, A_d.T) + mx.matmul(input_signal, B_d.T)
            y_t = mx.matmul(internal_state, C.T) + mx.matmul(input_signal, D.T)
            outputs.append(y_t)
        return mx.stack(outputs, axis=1)


class S4Model(nn.Module):
    def __init__(self, dim_input, dim_state, dim_output, n_layers=2):
        super().__init__()

        self.layers = []
        for i in range(n_layers):
            layer_input = dim_input if i == 0 else dim_output
            self.layers.append(StateSpace(layer_input, dim_state, dim_output))

        self.norm = nn.LayerNorm(dim_output)

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
            x = mx.maximum(x, 0)

        return self.norm(x)


def train_speech_recognition():
    mx.random.seed(7)
    batch_size = 32
    learning_rate = 2e-3
    num_epochs = 8
    dim_state = 32
    n_layers = 2

    train_loader = SpeechCommandsSynth(768, seed=1)
    val_loader = SpeechCommandsSynth(256, seed=2)
    test_loader = SpeechCommandsSynth(256, seed=3)

    sample_features, _ = next(train_loader.create_batches(batch_size=1))
    seq_len, dim_input = sample_features.shape[1], sample_features.shape[2]
    num_classes = len(train_loader.classes)
    print(f"Input dimensions: seq_len={seq_len}, dim_input={dim_input}")
    print(f"Number of classes: {num_classes}")

    model = S4Model(dim_input=dim_input, dim_state=dim_state, dim_output=num_classes, n_layers=n_layers)
    optimizer = optim.Adam(learning_rate=learning_rate)

    def loss_fn(model, x, y):
        logits = model(x)
        pooled_logits = mx.mean(logits, axis=1)
        return nn.losses.cross_entropy(pooled_logits, y, reduction="mean")

    def evaluate(model, data_loader):
        total_loss, total_correct, total_samples, n = 0.0, 0, 0, 0
        for features, labels in data_loader.create_batches(batch_size=batch_size, shuffle=False):
            pooled_logits = mx.mean(model(features), axis=1)
            total_loss += nn.losses.cross_entropy(pooled_logits, labels, reduction="mean").item()
            total_correct += mx.sum(mx.argmax(pooled_logits, axis=1) == labels).item()
            total_samples += labels.shape[0]
            n += 1
        return total_loss / n, total_correct / total_samples

    loss_and_grad = nn.value_and_grad(model, loss_fn)
    rng = np.random.default_rng(0)
    print("Starting training...")
    for epoch in range(num_epochs):
        tic = time.perf_counter()
        total_loss, num_batches = 0.0, 0
        for features, labels in train_loader.create_batches(batch_size=batch_size, shuffle=True, rng=rng):
            loss, grads = loss_and_grad(model, features, labels)
            optimizer.update(model, grads)
            mx.eval(model.parameters(), optimizer.state)
            total_loss += loss.item()
            num_batches += 1
            if num_batches % 8 == 0:
                print(f"Epoch {epoch+1}, Batch {num_batches}, Loss: {loss.item():.4f}")
        val_loss, val_accuracy = evaluate(model, val_loader)
        print(f"Epoch {epoch+1}/{num_epochs}  Train Loss: {total_loss / num_batches:.4f}  "
              f"Val Loss: {val_loss:.4f}, Val Accuracy: {val_accuracy:.4f}  ({time.perf_counter() - tic:.1f}s)")

    test_loss, test_accuracy = evaluate(model, test_loader)
    print(f"Final Test Results: Test Loss: {test_loss:.4f}  Test Accuracy: {test_accuracy:.4f}")


if __name__ == "__main__":
    train_speech_recognition()
