"""utils.checkpoint and resuming fit(): every state restored, bitwise-equal resumed runs, clear errors."""

import random
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from utils.checkpoint import (
    CheckpointError,
    latest_checkpoint,
    load_checkpoint,
    resume_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from utils.optim import as_scheduler, cosine_schedule
from utils.lm import causal_lm_loss, get_batch
from utils.training import TrainConfig, fit, make_optimizer
from utils.transformer import TransformerLM, preset

TOKENS = np.random.default_rng(0).integers(0, 99, size=3000).astype(np.uint16)  # a random "corpus", vocab 99


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _lm_config(folder, max_steps=16, resume=False, **changes):
    return TrainConfig(max_steps=max_steps, lr=3e-3, warmup_steps=3, checkpoint_dir=folder, checkpoint_every=4,
                       resume=resume, seed=7, device="cpu", progress=False, **changes)


def _lm_run(folder, max_steps=16, resume=False, callbacks=(), **changes):
    """A tiny GPT with dropout (so the RNG matters) on random windows; returns the model and its history."""
    torch.manual_seed(0)
    model = TransformerLM(preset("tiny-gpt2", dropout=0.1))
    config = _lm_config(folder, max_steps, resume, **changes)
    history = fit(model, causal_lm_loss, lambda: get_batch(TOKENS, 4, 16, "cpu"), config, callbacks=callbacks)
    return model, history


def _same_parameters(a, b) -> bool:
    return all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))


def test_resume_after_a_callback_stop_is_bitwise_the_uninterrupted_run(tmp_path):
    reference, reference_history = _lm_run(tmp_path / "whole")

    def stop_at_10(state):
        if state.step == 10:
            state.request_stop()

    _, stopped = _lm_run(tmp_path / "split", callbacks=[stop_at_10])
    assert stopped.steps == 10 and latest_checkpoint(tmp_path / "split").name == "step_000010"
    resumed, history = _lm_run(tmp_path / "split", resume=True)
    assert history.steps == 16
    assert _same_parameters(resumed, reference)
    assert history.train_loss == reference_history.train_loss  # every step's loss, to the last bit
    assert history.lr == reference_history.lr


KILLED_RUN = textwrap.dedent(
    """
    import os, signal, sys
    import torch
    sys.path.insert(0, {tests!r})
    from test_checkpoint import _lm_run

    torch.set_num_threads(1)

    def kill_at_10(state):
        if state.step == 10:
            os.kill(os.getpid(), signal.SIGKILL)  # no clean-up, no final checkpoint: as if the machine died

    _lm_run(sys.argv[1], callbacks=[kill_at_10])
    """
)


def test_resume_after_the_process_is_killed_is_bitwise_the_uninterrupted_run(tmp_path):
    script = tmp_path / "killed_run.py"
    script.write_text(KILLED_RUN.format(tests=str(__import__("pathlib").Path(__file__).parent)))
    folder = tmp_path / "killed"
    child = subprocess.run([sys.executable, str(script), str(folder)], capture_output=True, text=True, timeout=300)
    assert child.returncode == -9, child.stderr
    assert latest_checkpoint(folder).name == "step_000008"  # the last periodic checkpoint before the kill
    reference, reference_history = _lm_run(tmp_path / "whole")
    resumed, history = _lm_run(folder, resume=True)
    assert _same_parameters(resumed, reference)
    assert history.train_loss == reference_history.train_loss


def test_resume_without_a_checkpoint_starts_fresh_and_a_finished_run_stays_finished(tmp_path):
    fresh, history = _lm_run(tmp_path / "run", max_steps=8, resume=True)
    again, history_again = _lm_run(tmp_path / "run", max_steps=8, resume=True)
    assert history.steps == 8 and history_again.train_loss == history.train_loss
    assert _same_parameters(fresh, again)


def test_checkpoint_round_trip_restores_every_state(tmp_path):
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    scheduler = as_scheduler(optimizer, lambda t: cosine_schedule(t, 1e-2, 1e-3, 2, 10))
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    for _ in range(3):
        optimizer.zero_grad()
        scaler.scale(model(torch.randn(5, 3)).pow(2).mean()).backward()
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
    random.seed(3), np.random.seed(4), torch.manual_seed(5)
    path = save_checkpoint(tmp_path, 3, model, optimizer, scheduler, scaler, extra={"note": [1, 2.5, "x"]})
    expected_draws = (random.random(), np.random.rand(), torch.rand(1).item())

    torch.manual_seed(99)
    other = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    other_opt = torch.optim.AdamW(other.parameters(), lr=1e-2)
    other_sched = as_scheduler(other_opt, lambda t: cosine_schedule(t, 1e-2, 1e-3, 2, 10))
    other_scaler = torch.amp.GradScaler("cpu")
    random.seed(0), np.random.seed(0), torch.manual_seed(0)
    state = load_checkpoint(latest_checkpoint(tmp_path), other, other_opt, other_sched, other_scaler)

    assert path == latest_checkpoint(tmp_path) and state["step"] == 3 and state["extra"] == {"note": [1, 2.5, "x"]}
    assert _same_parameters(model, other)
    for (k, a), b in zip(optimizer.state_dict()["state"].items(), other_opt.state_dict()["state"].values()):
        assert all(torch.equal(a[name], b[name]) for name in a), k
    assert other_sched.state_dict() == scheduler.state_dict() and other_opt.param_groups[0]["lr"] == optimizer.param_groups[0]["lr"]
    assert other_scaler.state_dict() == scaler.state_dict()
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected_draws


def test_rng_state_round_trip_continues_every_generator():
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    np.random.randn()  # leaves a cached Gaussian in NumPy's legacy state
    saved = rng_state()
    first = (random.random(), np.random.randn(), torch.randn(2).tolist())
    set_rng_state(saved)
    assert (random.random(), np.random.randn(), torch.randn(2).tolist()) == first
    with pytest.raises(CheckpointError, match="lacks"):
        set_rng_state({"python": saved["python"]})


@pytest.mark.parametrize("damaged", ["state.pt", "model.safetensors"])
def test_a_truncated_file_is_named_in_the_error(tmp_path, damaged):
    _lm_run(tmp_path, max_steps=4)
    file = latest_checkpoint(tmp_path) / damaged
    file.write_bytes(file.read_bytes()[: file.stat().st_size // 2])
    with pytest.raises(CheckpointError, match=f"{damaged}.*truncated or damaged"):
        _lm_run(tmp_path, max_steps=8, resume=True)


def test_a_checkpoint_of_another_config_names_both_configs(tmp_path):
    _lm_run(tmp_path, max_steps=4)
    with pytest.raises(CheckpointError, match=r"another TrainConfig(.|\n)*'lr': \(0\.001, 0\.003\)(.|\n)*this run:(.|\n)*checkpoint:"):
        _resume_with_lr(tmp_path, 1e-3)


def _resume_with_lr(folder, lr):
    torch.manual_seed(0)
    model = TransformerLM(preset("tiny-gpt2", dropout=0.1))
    config = TrainConfig(max_steps=4, lr=lr, warmup_steps=3, checkpoint_dir=folder, checkpoint_every=4, resume=True,
                         seed=7, device="cpu", progress=False)
    return fit(model, causal_lm_loss, lambda: get_batch(TOKENS, 4, 16, "cpu"), config)


def test_weights_of_another_model_are_refused(tmp_path):
    _lm_run(tmp_path, max_steps=4)
    with pytest.raises(CheckpointError, match="do not fit this TransformerLM"):
        load_checkpoint(latest_checkpoint(tmp_path), TransformerLM(preset("tiny-gpt2", n_layers=3)))
    with pytest.raises(CheckpointError, match="missing"):
        load_checkpoint(tmp_path / "step_000999", TransformerLM(preset("tiny-gpt2")))


def test_save_checkpoint_rejects_bad_input(tmp_path):
    model = torch.nn.Linear(2, 2)
    with pytest.raises(ValueError, match="step must be >= 0, got -1"):
        save_checkpoint(tmp_path, -1, model, torch.optim.SGD(model.parameters(), lr=0.1))
    with pytest.raises(TypeError, match="torch.optim.Optimizer"):
        save_checkpoint(tmp_path, 1, model, "adam")
    assert latest_checkpoint(tmp_path / "nowhere") is None


def test_resume_checkpoint_ignores_only_the_named_fields(tmp_path):
    _lm_run(tmp_path, max_steps=4)
    saved = __import__("dataclasses").asdict(_lm_config(tmp_path, max_steps=4))
    model = TransformerLM(preset("tiny-gpt2", dropout=0.1))
    with pytest.raises(CheckpointError, match="optimizer state .* does not fit this AdamW"):
        resume_checkpoint(latest_checkpoint(tmp_path), model, torch.optim.AdamW(model.parameters()), None, None, saved)
    optimizer = make_optimizer(model, _lm_config(tmp_path, max_steps=4))
    state = resume_checkpoint(latest_checkpoint(tmp_path), model, optimizer, None, None,
                              {**saved, "progress": True}, ignore=("progress",))
    assert state["step"] == 4
    with pytest.raises(CheckpointError, match=r"'seed': \(8, 7\)"):
        resume_checkpoint(latest_checkpoint(tmp_path), model, optimizer, None, None, {**saved, "seed": 8})
