"""utils.training and utils.lm's get_batch: clipping equal to torch (atol 1e-12), history, early stopping, determinism, bad inputs."""

import math

import pytest
import torch
from torch import nn

from utils.env import seed_everything
from utils.losses import cross_entropy, mse_loss
from utils.training import History, accuracy, clip_grad_norm_, evaluate, tensor_loader, train


def _blobs(n=200, seed=0):
    """Two Gaussian blobs in 2-D: an easy binary classification."""
    g = torch.Generator().manual_seed(seed)
    targets = torch.randint(0, 2, (n,), generator=g)
    inputs = torch.randn(n, 2, generator=g) + 3.0 * targets[:, None].float()
    return inputs, targets


def _run(seed=0, epochs=5, **kwargs):
    seed_everything(seed)
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, 2))
    x, y = _blobs()
    train_loader = tensor_loader(x[:150], y[:150], batch_size=16, shuffle=True, seed=seed)
    val_loader = tensor_loader(x[150:], y[150:], batch_size=64)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    history = train(model, train_loader, val_loader, optimizer, cross_entropy, epochs, "cpu", **kwargs)
    return model, history, val_loader


def test_clip_grad_norm_equals_torch():
    g = torch.Generator().manual_seed(0)
    a = [nn.Parameter(torch.zeros(5, 3, dtype=torch.float64)), nn.Parameter(torch.zeros(4, dtype=torch.float64))]
    b = [nn.Parameter(p.detach().clone()) for p in a]
    for p, q in zip(a, b):
        p.grad = torch.randn(p.shape, generator=g, dtype=torch.float64) * 10
        q.grad = p.grad.clone()
    norm_ours = clip_grad_norm_(a, max_norm=1.0)
    norm_ref = torch.nn.utils.clip_grad_norm_(b, max_norm=1.0)
    # float64: a norm of 19 numbers of size ~10 carries rounding error ~1e-15, far under 1e-12.
    assert abs(norm_ours.item() - norm_ref.item()) <= 1e-12
    assert all(torch.allclose(p.grad, q.grad, rtol=0, atol=1e-12) for p, q in zip(a, b))
    # Both scale by max_norm / (norm + 1e-6), as torch does, so the new norm is 1 / (1 + 1e-6 / norm), not exactly 1.
    total = torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in a])).item()
    assert total == pytest.approx(1.0 / (1.0 + 1e-6 / norm_ref.item()), abs=1e-12)


def test_train_learns_and_records_history():
    model, history, val_loader = _run(epochs=5)
    assert isinstance(history, History) and history.epochs == 5
    assert len(history.val_loss) == len(history.train_metric) == len(history.val_metric) == len(history.lr) == 5
    assert history.train_loss[-1] < history.train_loss[0]
    assert history.val_metric[-1] > 0.85
    loss, acc = evaluate(model, val_loader, cross_entropy)
    # The history's last validation loss is this same computation on the same model: equal to the last bit.
    assert loss == history.val_loss[-1] and acc == history.val_metric[-1]


def test_same_seed_same_history():
    _, first, _ = _run(seed=3)
    _, second, _ = _run(seed=3)
    _, other, _ = _run(seed=4)
    assert first.train_loss == second.train_loss and first.val_loss == second.val_loss
    assert first.train_loss != other.train_loss


def test_early_stopping_restores_best_weights():
    seed_everything(0)
    x = torch.randn(40, 20)
    y = torch.randint(0, 2, (40,))  # random labels: a wide model memorises them, the validation loss rises
    model = nn.Sequential(nn.Linear(20, 256), nn.ReLU(), nn.Linear(256, 2))
    train_loader = tensor_loader(x[:20], y[:20], batch_size=20)
    val_loader = tensor_loader(x[20:], y[20:], batch_size=20)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    history = train(model, train_loader, val_loader, optimizer, cross_entropy, 200, early_stopping_patience=3)
    assert history.stopped_early and history.epochs == history.best_epoch + 1 + 3
    val_loss, _ = evaluate(model, val_loader, cross_entropy)
    assert val_loss == min(history.val_loss)  # the best weights restored, evaluated the same way


def test_scheduler_steps_per_batch_and_clipping_runs():
    seed_everything(0)
    model = nn.Linear(2, 1)
    x = torch.randn(64, 2)
    y = x.sum(dim=1, keepdim=True)
    loader = tensor_loader(x, y, batch_size=16)  # 4 batches per epoch
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=4, gamma=0.5)
    history = train(model, loader, loader, optimizer, mse_loss, 3, scheduler=scheduler, clip_grad_norm=0.5, metric_fn=None)
    assert history.lr == pytest.approx([0.05, 0.025, 0.0125])
    assert history.train_metric == [] and history.val_loss[-1] < history.val_loss[0]
    _, metric = evaluate(model, loader, mse_loss, metric_fn=None)
    assert math.isnan(metric)


def test_accuracy_and_bad_inputs():
    assert accuracy(torch.tensor([[0.0, 1.0], [2.0, 1.0]]), torch.tensor([1, 1])) == 0.5
    with pytest.raises(ValueError, match=r"logits \(N, C\) and targets \(N,\), got logits \(2, 2\) and targets \(3,\)"):
        accuracy(torch.zeros(2, 2), torch.zeros(3, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"same first dimension N, got inputs \(4, 2\) and targets \(3,\)"):
        tensor_loader(torch.zeros(4, 2), torch.zeros(3), batch_size=2)
    with pytest.raises(ValueError, match=r"epochs must be >= 1, got 0"):
        train(nn.Linear(1, 1), [], [], torch.optim.SGD(nn.Linear(1, 1).parameters(), lr=0.1), mse_loss, 0)
    with pytest.raises(ValueError, match=r"max_norm must be > 0, got -1"):
        clip_grad_norm_([], -1)


def test_chapter2_plot_helpers_draw_history_and_band():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from utils.plotting import plot_learning_curves, plot_mean_band

    history = History(train_loss=[1.0, 0.5, 0.2], val_loss=[1.1, 0.7, 0.8], train_metric=[0.5, 0.7, 0.9],
                      val_metric=[0.5, 0.6, 0.6], best_epoch=1)  # fmt: skip
    fig, ax = plt.subplots()
    line = plot_learning_curves(ax, history, label="mlp")
    assert list(line.get_ydata()) == [1.1, 0.7, 0.8] and line.get_label() == "mlp validation"
    assert len(ax.lines) == 3  # validation, training, best-epoch dot
    band = plot_mean_band(ax, [[1.0, 2.0], [3.0, 4.0]], label="relu")
    assert list(band.get_ydata()) == [2.0, 3.0]
    with pytest.raises(ValueError, match=r"runs must be 2-D, got shape \(2,\)"):
        plot_mean_band(ax, [1.0, 2.0])
    with pytest.raises(ValueError, match="no metric values"):
        plot_learning_curves(ax, History(train_loss=[1.0], val_loss=[1.0]), metric=True)
    plt.close(fig)


# Test accuracy of the chapter-2 baseline, measured first: sklearn LogisticRegression(C=0.1, max_iter=500) on the
# 4,000 training digits, C chosen on the validation split (0.01: 0.892, 0.1: 0.908, 1.0: 0.908), scored on the
# 500 test digits. It is the floor any MLP trained by this loop must beat.
LOGISTIC_REGRESSION_TEST_ACCURACY = 0.892


def test_mlp_trained_by_the_loop_beats_logistic_regression_on_mnist_test():
    from sklearn.linear_model import LogisticRegression

    from utils.data import load_mnist
    from utils.optim import AdamW

    mnist = load_mnist()
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = (mnist.split(s) for s in ("train", "val", "test"))
    baseline = LogisticRegression(C=0.1, max_iter=500).fit(x_train.reshape(len(x_train), -1), y_train)
    baseline_accuracy = baseline.score(x_test.reshape(len(x_test), -1), y_test)
    assert baseline_accuracy == pytest.approx(LOGISTIC_REGRESSION_TEST_ACCURACY, abs=0.006)  # 3 test images

    seed_everything(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    to_tensor = torch.from_numpy
    train_loader = tensor_loader(to_tensor(x_train), to_tensor(y_train), batch_size=64, shuffle=True)
    val_loader = tensor_loader(to_tensor(x_val), to_tensor(y_val), batch_size=500)
    optimizer = AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    train(model, train_loader, val_loader, optimizer, cross_entropy, 5)
    _, test_accuracy = evaluate(model, tensor_loader(to_tensor(x_test), to_tensor(y_test), batch_size=500), cross_entropy)
    assert test_accuracy > LOGISTIC_REGRESSION_TEST_ACCURACY, f"MLP test accuracy {test_accuracy:.3f}"


def test_train_epoch_lowers_the_loss_and_matches_evaluate():
    from utils.training import train_epoch

    seed_everything(0)
    x = torch.randn(64, 3)
    y = (x @ torch.tensor([1.0, -2.0, 0.5])).unsqueeze(-1)
    model = nn.Linear(3, 1)
    loader = tensor_loader(x, y, batch_size=16)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    before, _ = evaluate(model, loader, mse_loss, metric_fn=None)
    train_loss, metric = train_epoch(model, loader, optimizer, mse_loss, metric_fn=None)
    after, _ = evaluate(model, loader, mse_loss, metric_fn=None)
    assert math.isnan(metric) and after < before and math.isfinite(train_loss)


# =============================================================================================================
# The step-based loop: fit, TrainConfig, get_batch (chapter 6)
# =============================================================================================================

import numpy as np  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from utils.training import (  # noqa: E402
    StepHistory,
    TrainConfig,
    TrainState,
    fit,
    make_optimizer,
    mean_loss,
    train_epoch,
)
from utils.lm import causal_lm_loss, get_batch  # noqa: E402
from utils.encoder_decoder import EncoderDecoder  # noqa: E402
from utils.transformer import TransformerLM, preset  # noqa: E402


def _reference_train_epoch(model, loader, optimizer, loss_fn, clip_grad_norm=None):
    """Chapter 2's hand-written epoch, as it was before the loop moved onto fit: the reference."""
    model.train()
    total_loss, total_metric, n_seen = 0.0, 0.0, 0
    for inputs, targets in loader:
        logits = model(inputs)
        loss = loss_fn(logits, targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip_grad_norm is not None:
            clip_grad_norm_(model.parameters(), clip_grad_norm)
        optimizer.step()
        batch_size = targets.shape[0]
        total_loss += loss.item() * batch_size
        total_metric += accuracy(logits.detach(), targets) * batch_size
        n_seen += batch_size
    return total_loss / n_seen, total_metric / n_seen


def _chapter2_mlp_run(epoch_fn):
    seed_everything(0)
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, 2))
    x, y = _blobs()
    loader = tensor_loader(x, y, batch_size=16, shuffle=True, seed=0)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    results = [epoch_fn(model, loader, optimizer, cross_entropy, clip_grad_norm=1.0) for _ in range(3)]
    return model, results


def test_the_loop_trains_the_chapter2_mlp_exactly_as_the_hand_loop_did():
    reference, reference_results = _chapter2_mlp_run(_reference_train_epoch)
    ours, results = _chapter2_mlp_run(train_epoch)
    assert results == reference_results  # the same losses and accuracies, to the last bit
    assert all(torch.equal(p, q) for p, q in zip(ours.parameters(), reference.parameters()))


# Chapter 5's encoder-decoder learns to reverse 8 digits (notebook 05, section 11).
BOS, SRC_LEN, VOCAB = 0, 8, 12


def _reversal_batch(n):
    src = torch.randint(2, VOCAB, (n, SRC_LEN))
    target = src.flip(1)
    decoder_input = torch.cat([torch.full((n, 1), BOS), target[:, :-1]], dim=1)
    return src, decoder_input, target


def _seq2seq():
    torch.manual_seed(0)
    return EncoderDecoder(preset("tiny-gpt2", vocab_size=VOCAB, max_seq_len=16, d_model=64, n_heads=4, d_ff=128))


def test_the_loop_trains_the_chapter5_encoder_decoder_exactly_as_the_hand_loop_did():
    steps = 12
    reference = _seq2seq()
    optimizer = torch.optim.AdamW(reference.parameters(), lr=3e-3)
    reference_losses = []
    for _ in range(steps):  # notebook 05's hand loop
        src, decoder_input, target = _reversal_batch(64)
        loss = F.cross_entropy(reference(src, decoder_input).flatten(0, 1), target.flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        reference_losses.append(loss.item())

    def seq2seq_loss(model, batch):
        src, decoder_input, target = batch
        return F.cross_entropy(model(src, decoder_input).flatten(0, 1), target.flatten()), target.numel()

    torch.manual_seed(0)
    ours = _seq2seq()
    config = TrainConfig(max_steps=steps, schedule="constant", clip_grad_norm=None, device="cpu", progress=False)
    history = fit(ours, seq2seq_loss, lambda: _reversal_batch(64), config,
                  optimizer=torch.optim.AdamW(ours.parameters(), lr=3e-3))
    assert history.train_loss == reference_losses
    assert all(torch.equal(p, q) for p, q in zip(ours.parameters(), reference.parameters()))


TOKENS = np.random.default_rng(1).integers(0, 99, size=2000).astype(np.int32)


def _tiny_lm_run(seed, steps=6, **changes):
    torch.manual_seed(0)
    model = TransformerLM(preset("tiny-gpt2", dropout=0.1))
    config = TrainConfig(max_steps=steps, lr=3e-3, warmup_steps=2, seed=seed, device="cpu", progress=False, **changes)
    return model, fit(model, causal_lm_loss, lambda: get_batch(TOKENS, 4, 16, "cpu"), config)


def test_same_seed_same_losses_and_a_cosine_schedule_with_warmup():
    _, first = _tiny_lm_run(seed=3)
    _, second = _tiny_lm_run(seed=3)
    _, other = _tiny_lm_run(seed=4)
    assert first.train_loss == second.train_loss and first.train_loss != other.train_loss
    assert isinstance(first, StepHistory) and first.step == [1, 2, 3, 4, 5, 6] and first.n_tokens == [64] * 6
    from utils.optim import cosine_schedule

    assert first.lr == [cosine_schedule(t, 3e-3, 3e-5, 2, 6) for t in range(6)]  # the lr each step used
    assert all(g > 0 for g in first.grad_norm) and first.tokens_per_second() > 0


def test_accumulating_k_micro_batches_equals_one_batch_k_times_larger():
    """float64: the two gradients differ only by summation order, ~1e-16 relative per term over <1e4 terms."""
    windows = [get_batch(TOKENS, 4, 16, "cpu", torch.Generator().manual_seed(i)) for i in range(3)]
    big = (torch.cat([w[0] for w in windows]), torch.cat([w[1] for w in windows]))

    def one_step(batches, accum):
        torch.manual_seed(0)
        model = TransformerLM(preset("tiny-gpt2")).double()
        it = iter(batches)
        config = TrainConfig(max_steps=1, schedule="constant", lr=0.1, grad_accum_steps=accum, clip_grad_norm=1e9,
                             device="cpu", progress=False)
        history = fit(model, causal_lm_loss, lambda: next(it), config, optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
        return model, history

    small_model, small = one_step(windows, 3)
    big_model, large = one_step([big], 1)
    assert small.n_tokens == large.n_tokens == [192]
    assert abs(small.train_loss[0] - large.train_loss[0]) <= 1e-12
    assert abs(small.grad_norm[0] - large.grad_norm[0]) <= 1e-12 * large.grad_norm[0]
    for p, q in zip(small_model.parameters(), big_model.parameters()):
        assert torch.allclose(p, q, rtol=0, atol=1e-13)  # lr 0.1 × gradient error ≤ 1e-12


def test_mixed_precision_runs_on_cpu_and_fp16_clips_the_unscaled_gradients():
    _, fp32 = _tiny_lm_run(seed=0, steps=3)
    _, bf16 = _tiny_lm_run(seed=0, steps=3, precision="bf16")
    _, fp16 = _tiny_lm_run(seed=0, steps=3, precision="fp16")
    assert all(math.isfinite(v) for v in bf16.train_loss + fp16.train_loss)
    # The GradScaler multiplies the loss by 65,536; clipped before unscaling, the norm would be that much larger.
    # Measured relative differences from the fp32 norm, the same with 1 and 2 threads: fp16 1.9e-4, bf16 1.5e-3;
    # the tolerances leave 10x room (other CPUs round differently); unscaling wrongly would be off by 65,536x.
    assert fp16.grad_norm[0] == pytest.approx(fp32.grad_norm[0], rel=2e-3)
    assert bf16.grad_norm[0] == pytest.approx(fp32.grad_norm[0], rel=1.5e-2)


def test_eval_and_callbacks_run_when_asked():
    val = [get_batch(TOKENS, 4, 16, "cpu", torch.Generator().manual_seed(9))]
    seen = []

    def watch(state):
        assert isinstance(state, TrainState)
        seen.append((state.step, state.model.training))

    torch.manual_seed(0)
    model = TransformerLM(preset("tiny-gpt2"))
    config = TrainConfig(max_steps=5, eval_every=2, device="cpu", progress=False)
    history = fit(model, causal_lm_loss, lambda: get_batch(TOKENS, 4, 16, "cpu"), config,
                  eval_fn=lambda m: mean_loss(m, causal_lm_loss, val), callbacks=[watch])
    assert history.eval_step == [2, 4, 5] and seen == [(s, True) for s in range(1, 6)]
    assert history.val_loss[-1] == mean_loss(model.eval(), causal_lm_loss, val)  # the same computation


def test_get_batch_shapes_shift_and_memmap(tmp_path):
    path = tmp_path / "tokens.bin"
    corpus = np.arange(500, dtype=np.uint16)
    corpus.tofile(path)
    tokens = np.memmap(path, dtype=np.uint16, mode="r")
    inputs, targets = get_batch(tokens, 8, 32, "cpu", torch.Generator().manual_seed(0))
    assert inputs.shape == targets.shape == (8, 32) and inputs.dtype == targets.dtype == torch.int64
    assert torch.equal(targets[:, :-1], inputs[:, 1:]) and torch.equal(targets[:, -1], inputs[:, -1] + 1)
    assert torch.equal(inputs - inputs[:, :1], torch.arange(32).expand(8, 32))  # contiguous windows of the corpus
    assert int(targets.max()) <= 499
    tensor_inputs, _ = get_batch(torch.from_numpy(corpus.astype(np.int64)), 8, 32, "cpu", torch.Generator().manual_seed(0))
    assert torch.equal(tensor_inputs, inputs)
    last = get_batch(np.arange(5), 3, 4, "cpu")  # only one window fits: start 0
    assert torch.equal(last[0], torch.arange(4).expand(3, 4))


def test_get_batch_rejects_bad_input_and_devices():
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        get_batch(TOKENS, 2, 4, "tpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="'cuda' was asked for .* not available"):
            get_batch(TOKENS, 2, 4, "cuda")
    with pytest.raises(ValueError, match=r"1-D .* got shape \(2, 3\)"):
        get_batch(np.zeros((2, 3), dtype=np.int64), 2, 1, "cpu")
    with pytest.raises(TypeError, match="integer token ids, got dtype float32"):
        get_batch(np.zeros(10, dtype=np.float32), 2, 4, "cpu")
    with pytest.raises(ValueError, match="needs seq_len \\+ 1 = 11 tokens but tokens has 10"):
        get_batch(np.zeros(10, dtype=np.int64), 2, 10, "cpu")
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        get_batch(TOKENS, 0, 4, "cpu")


def test_train_config_and_fit_reject_bad_input():
    with pytest.raises(ValueError, match="TrainConfig.max_steps must be >= 1, got 0"):
        TrainConfig(max_steps=0)
    with pytest.raises(ValueError, match="TrainConfig.precision must be one of .* got 'fp8'"):
        TrainConfig(precision="fp8")
    with pytest.raises(ValueError, match="warmup_steps must be < max_steps .* warmup_steps=10, max_steps=10"):
        TrainConfig(max_steps=10, warmup_steps=10)
    with pytest.raises(ValueError, match="TrainConfig.lr must be > 0, got 0"):
        TrainConfig(lr=0)
    with pytest.raises(ValueError, match="checkpoint_dir is None but resume"):
        TrainConfig(resume=True)
    with pytest.raises(ValueError, match="unknown device 'gpu'"):
        fit(nn.Linear(2, 2), causal_lm_loss, lambda: None, TrainConfig(device="gpu", progress=False))
    model = nn.Linear(2, 1)
    batch = (torch.randn(4, 2), torch.randn(4, 1))
    config = TrainConfig(max_steps=1, device="cpu", progress=False)
    with pytest.raises(TypeError, match="must return \\(loss, n\\)"):
        fit(model, lambda m, b: mse_loss(m(b[0]), b[1]), lambda: batch, config)
    with pytest.raises(TypeError, match="scalar tensor with gradients"):
        fit(model, lambda m, b: (torch.tensor(1.0), 4), lambda: batch, config)
    with pytest.raises(TypeError, match="config must be a TrainConfig"):
        fit(model, causal_lm_loss, lambda: batch, {"max_steps": 1})
    with pytest.raises(ValueError, match="resume=True needs batches as a function"):
        fit(model, causal_lm_loss, [batch], TrainConfig(resume=True, checkpoint_dir="x", progress=False))
    with pytest.raises(TypeError, match="make_optimizer: model must be an nn.Module"):
        make_optimizer("model", config)


def test_make_optimizer_decays_matrices_only():
    model = TransformerLM(preset("tiny-gpt2"))
    optimizer = make_optimizer(model, TrainConfig(weight_decay=0.1))
    decayed, plain = optimizer.param_groups
    assert decayed["weight_decay"] == 0.1 and plain["weight_decay"] == 0.0
    assert all(p.dim() >= 2 for p in decayed["params"]) and all(p.dim() == 1 for p in plain["params"])
    assert sum(len(g["params"]) for g in optimizer.param_groups) == len(list(model.parameters()))  # tied once
