"""utils.perf against independent references: a fake clock's calls, FlopCounterMode, data-sheet peaks, tensor sizes,
autograd's saved tensors and the CPU profiler's memory events; and scripts/gpu_run.py's smoke run."""

import contextlib
import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from utils.perf import (
    PEAK_BF16_TFLOPS,
    SHARDINGS,
    CheckpointedBlock,
    LapTimer,
    Timing,
    UnknownDeviceError,
    checkpoint_blocks,
    fastest_per_step,
    flops_left_out,
    interleaved_times,
    matmul_tflops,
    memory_budget,
    mfu,
    non_embedding_parameters,
    paired_ratios,
    peak_memory_bytes,
    peak_tflops,
    saved_activation_bytes,
    state_bytes_per_gpu,
    step_peak_bytes,
    synchronize,
    time_fn,
    tokens_per_second,
    training_flops_per_token,
)
from utils.lm import causal_lm_loss
from utils.transformer import TransformerLM, preset

ROOT = Path(__file__).resolve().parent.parent
SMALL = dict(n_layers=2, d_model=64, n_heads=4, d_ff=256, max_seq_len=64, vocab_size=256)

# ----------------------------------------------------------------------------------------------- timing


def test_time_fn_runs_warmup_then_repeats_and_honours_min_time():
    calls = []
    timing = time_fn(lambda: calls.append(1), "cpu", warmup=2, repeats=4)
    assert len(calls) == 6 and len(timing.times) == 4
    sleeper = time_fn(lambda: torch.zeros(1), "cpu", warmup=0, repeats=1, min_time_s=0.02)
    assert sum(sleeper.times) >= 0.02


def test_timing_summaries_match_statistics():
    timing = Timing((0.3, 0.1, 0.2, 0.5, 0.4))
    assert timing.fastest == 0.1 and timing.median == 0.3
    assert timing.quartiles == pytest.approx((0.15, 0.45))  # statistics.quantiles' exclusive method by hand
    assert "median 300 ms" in timing.describe("ms") and "5 runs" in timing.describe()
    assert Timing((0.2,)).quartiles == (0.2, 0.2)


def test_interleaved_times_reverses_the_order_every_round():
    order = []
    timings = interleaved_times({"a": lambda: order.append("a"), "b": lambda: order.append("b")},
                                warmup=1, repeats=3)
    assert order == ["a", "b", "a", "b", "b", "a", "a", "b"]
    assert {k: len(t.times) for k, t in timings.items()} == {"a": 3, "b": 3}


def test_interleaved_times_in_turns_times_only_the_calls_after_the_settling_ones():
    order, calls = [], {"a": 0, "b": 0}

    def call(name):
        def fn():
            order.append(name)
            if calls[name] % 3 == 0:  # the first call of each turn (warm-up off): slow, as on cold caches
                time.sleep(0.05)
            calls[name] += 1
        return fn

    timings = interleaved_times({"a": call("a"), "b": call("b")}, warmup=0, repeats=2, block=2, settle=1)
    assert order == ["a"] * 3 + ["b"] * 3 + ["b"] * 3 + ["a"] * 3
    assert {k: len(t.times) for k, t in timings.items()} == {"a": 4, "b": 4}
    assert max(max(t.times) for t in timings.values()) < 0.04  # the slow settling calls are not among them


def test_paired_ratios_divide_round_by_round():
    ratios = paired_ratios(Timing((1.0, 2.0)), Timing((3.0, 3.0)))
    assert ratios.times == (3.0, 1.5)


def test_lap_timer_and_fastest_per_step():
    timer = LapTimer("cpu")
    timer.lap()
    timer.lap()
    assert len(timer.laps) == 2 and all(t >= 0 for t in timer.laps)
    assert fastest_per_step([[3.0, 1.0, 2.0], [2.0, 4.0, 1.0]]) == [2.0, 1.0, 1.0]
    synchronize("cpu")  # nothing queued on a CPU: returns


def test_tokens_per_second():
    assert tokens_per_second(1000, 0.5) == 2000.0


# ----------------------------------------------------------------------------------------------- FLOPs


def _counted_flops_per_token(config, batch_size: int, seq_len: int) -> float:
    """FLOPs that torch's FlopCounterMode counts in a forward and backward pass, per token."""
    model = TransformerLM(config)
    for block in model.transformer.blocks:
        block.attn.use_sdpa = False  # the CPU's fused SDPA kernel is not counted by FlopCounterMode
    ids = torch.randint(config.vocab_size, (batch_size, seq_len))
    with FlopCounterMode(display=False) as counter:
        loss = F.cross_entropy(model(ids).flatten(0, 1), ids.flatten())
        loss.backward()
    return counter.get_total_flops() / (batch_size * seq_len)


@pytest.mark.parametrize("changes", [SMALL, dict(SMALL, n_layers=3, d_ff=200, vocab_size=99)])
def test_flops_formula_plus_what_it_leaves_out_equals_flop_counter(changes):
    config = preset("tiny-gpt2", **changes)
    seq_len = 48
    counted = _counted_flops_per_token(config, 2, seq_len)
    formula = training_flops_per_token(config, seq_len)
    left_out = flops_left_out(config, seq_len)
    # FlopCounterMode counts matmuls only: the formula, plus the LM head, minus the biases and norms it counts.
    assert counted == formula + left_out["lm_head"] + left_out["vector_params"]
    print(f"formula {formula:,} vs counted {counted:,.0f} FLOPs/token: {formula / counted - 1:+.1%}")
    assert left_out["causal_half"] == -6 * config.n_layers * config.d_model * seq_len


def test_non_embedding_parameters_against_numel():
    config = preset("gpt2")
    with torch.device("meta"):
        model = TransformerLM(config)
    embeddings = {"transformer.token_emb.weight", "transformer.pos_emb.weight"}
    expected = sum(p.numel() for name, p in model.named_parameters() if name not in embeddings)
    assert non_embedding_parameters(config) == expected == 85_056_000  # GPT-2 small: 85 M without embeddings


# ----------------------------------------------------------------------------------------------- MFU


@pytest.mark.parametrize("name, peak", [
    ("NVIDIA H100 80GB HBM3", 989.0), ("NVIDIA H100 SXM5 80GB", 989.0), ("NVIDIA H200", 989.0),
    ("NVIDIA H200 NVL", 836.0), ("NVIDIA A100-SXM4-80GB", 312.0), ("NVIDIA A100 80GB PCIe", 312.0),
])
def test_peak_tflops_by_device_name(name, peak):
    assert peak_tflops(name) == peak


@pytest.mark.parametrize("name", ["NVIDIA H100 PCIe", "NVIDIA H100 NVL", "Intel(R) Xeon(R) Processor", "mps"])
def test_unknown_devices_say_so(name):
    with pytest.raises(UnknownDeviceError, match="no dense bf16 peak"):
        peak_tflops(name)


def test_mfu_against_the_table():
    assert PEAK_BF16_TFLOPS == {"H100 SXM": 989.0, "H200 SXM": 989.0, "H200 NVL": 836.0, "A100": 312.0}
    assert mfu(1e6, 494.4e6, "NVIDIA H100 80GB HBM3") == pytest.approx(1e6 * 494.4e6 / 989e12)
    with pytest.raises(UnknownDeviceError):
        mfu(1e6, 1e9, "cpu")


def test_matmul_tflops_is_positive_and_finite():
    assert 0 < matmul_tflops(64, torch.float32, "cpu", repeats=2) < 1e3


# ----------------------------------------------------------------------------------------------- memory


def test_peak_memory_of_a_known_allocation():
    n = 1_000_000
    peak = peak_memory_bytes(lambda: torch.ones(n, dtype=torch.float32).sum(), "cpu")
    assert 4 * n <= peak <= 4 * n + 4096  # the tensor, and a scalar or two


def _lm(config, attention: str):
    torch.manual_seed(0)
    model = TransformerLM(config)
    for block in model.transformer.blocks:
        block.attn.use_sdpa = attention == "sdpa"
    return model


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("attention", ["sdpa", "scratch"])
def test_activation_formula_against_autograds_saved_tensors(precision, attention):
    config = preset("tiny-gpt2", **SMALL)
    model = _lm(config, attention)
    ids, targets = torch.randint(config.vocab_size, (2, 3, 64)).unbind(0)
    autocast = torch.autocast("cpu", torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()

    def forward():
        with autocast:
            return causal_lm_loss(model, (ids, targets))

    measured = saved_activation_bytes(forward, model)
    budget = memory_budget(config, 3, 64, precision, attention)
    predicted = budget["activations"] + budget["autocast_copies"]
    print(f"{precision} {attention}: saved {measured:,} bytes, formula {predicted:,} ({predicted / measured - 1:+.2%})")
    # Not counted by the formula: a few scalars and int64 index tensors autograd keeps (< 0.5% here).
    assert abs(predicted / measured - 1) < 0.005


def test_parameter_gradient_and_adamw_bytes_exactly():
    config = preset("tiny-gpt2", **SMALL)
    model = _lm(config, "sdpa")
    optimizer = torch.optim.AdamW(model.parameters())
    causal_lm_loss(model, torch.randint(config.vocab_size, (2, 2, 16)).unbind(0))[0].backward()
    optimizer.step()
    nbytes = lambda tensors: sum(t.numel() * t.element_size() for t in tensors)  # noqa: E731
    budget = memory_budget(config, 2, 16)
    assert budget["weights"] == nbytes(model.parameters())
    assert budget["gradients"] == nbytes(p.grad for p in model.parameters())
    states = [v for s in optimizer.state.values() for k, v in s.items() if k in ("exp_avg", "exp_avg_sq")]
    assert budget["optimizer"] == nbytes(states)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_step_peak_against_the_profilers_peak(precision):
    config = preset("tiny-gpt2", **dict(SMALL, vocab_size=1024))
    model = _lm(config, "sdpa")
    optimizer = torch.optim.AdamW(model.parameters())
    batch = torch.randint(config.vocab_size, (2, 4, 64)).unbind(0)
    autocast = (lambda: torch.autocast("cpu", torch.bfloat16)) if precision == "bf16" else contextlib.nullcontext

    def step():
        optimizer.zero_grad(set_to_none=True)
        with autocast():
            loss, _ = causal_lm_loss(model, batch)
        loss.backward()
        optimizer.step()

    step()  # AdamW's states exist from here on
    budget = memory_budget(config, 4, 64, precision)
    held = budget["weights"] + budget["optimizer"]
    measured = held + peak_memory_bytes(step, "cpu")
    predicted = step_peak_bytes(budget)
    print(f"{precision}: measured peak {measured:,} bytes, predicted {predicted:,} ({predicted / measured - 1:+.2%})")
    assert abs(predicted / measured - 1) < 0.05  # temporaries of the ops (a row of norms, AdamW's scalars) left out


def test_checkpointed_blocks_give_the_same_gradients_with_fewer_saved_bytes():
    config = preset("tiny-gpt2", **SMALL)
    plain, wrapped = _lm(config, "sdpa"), checkpoint_blocks(_lm(config, "sdpa"))
    assert all(isinstance(b, CheckpointedBlock) for b in wrapped.transformer.blocks)
    batch = torch.randint(config.vocab_size, (2, 2, 64)).unbind(0)
    saved = {}
    for name, model in (("plain", plain), ("checkpointed", wrapped)):
        saved[name] = saved_activation_bytes(lambda: causal_lm_loss(model, batch)[0].backward(), model)
    assert saved["checkpointed"] < saved["plain"] / 2
    for (_, a), (_, b) in zip(plain.named_parameters(), wrapped.named_parameters()):
        assert torch.equal(a.grad, b.grad)  # the same operations recomputed: identical bits


def test_state_bytes_per_gpu():
    P = 1_000_000
    assert SHARDINGS == ("ddp", "zero1", "zero2", "fsdp")
    assert [state_bytes_per_gpu(P, 8, s) for s in SHARDINGS] == [16 * P, 9 * P, 5.5 * P, 2 * P]
    assert all(state_bytes_per_gpu(P, 1, s) == 16 * P for s in SHARDINGS)


# ----------------------------------------------------------------------------------------------- the GPU script


def test_gpu_run_smoke_writes_every_section(tmp_path):
    out = tmp_path / "ladder.json"
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "gpu_run.py"), "--smoke", "--out", str(out)],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["errors"] == {}, result["errors"]
    spec = importlib.util.spec_from_file_location("gpu_run", ROOT / "scripts" / "gpu_run.py")
    gpu_run = importlib.util.module_from_spec(spec)
    sys.modules["gpu_run"] = gpu_run  # dataclasses look their module up there
    spec.loader.exec_module(gpu_run)
    assert [row["rung"] for row in result["ladder"]] == [rung.name for rung in gpu_run.ladder()]
    assert all(row["tokens_per_s"] > 0 and row["mfu"] is None for row in result["ladder"])  # a CPU has no peak
    assert result["transformers"]["ratio_ours_over_transformers"] > 0
    assert {"device_name", "versions", "measured_at", "code_sha256"} <= set(result["provenance"])
    assert gpu_run.padded(50257) == 50304 and gpu_run.padded(128) == 128
