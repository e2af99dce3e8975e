"""Bad input to utils.perf: a clear error, raised in utils, that names the argument."""

import pytest
import torch

import utils.exercises.gpu as exercises_gpu
import utils.perf as perf
from bad_inputs import BadInput, assert_clear_error, case_id
from utils.transformer import preset

TINY = preset("tiny-gpt2")

CASES = [
    BadInput("utils.perf.synchronize", "a device torch does not know", lambda: perf.synchronize("tpu"),
             ValueError, "tpu"),
    BadInput("utils.perf.synchronize", "a device number", lambda: perf.synchronize(0), TypeError, "device"),
    BadInput("utils.perf.Timing", "a unit that is not one of s, ms, us",
             lambda: perf.Timing((0.1,)).describe("min"), ValueError, "unit"),
    BadInput("utils.perf.time_fn", "the result of a call instead of the function",
             lambda: perf.time_fn(torch.zeros(1)), TypeError, "fn"),
    BadInput("utils.perf.time_fn", "no repeats", lambda: perf.time_fn(lambda: None, repeats=0), ValueError, "repeats"),
    BadInput("utils.perf.time_fn", "a negative minimum time",
             lambda: perf.time_fn(lambda: None, min_time_s=-1), ValueError, "min_time_s"),
    BadInput("utils.perf.interleaved_times", "a list of functions instead of a dict",
             lambda: perf.interleaved_times([lambda: None]), TypeError, "fns"),
    BadInput("utils.perf.interleaved_times", "a value that is not a function",
             lambda: perf.interleaved_times({"ours": 3}), TypeError, "ours"),
    BadInput("utils.perf.paired_ratios", "timings of different lengths",
             lambda: perf.paired_ratios(perf.Timing((1.0,)), perf.Timing((1.0, 2.0))), ValueError, "numerator"),
    BadInput("utils.perf.paired_ratios", "a list of seconds instead of a Timing",
             lambda: perf.paired_ratios([1.0], perf.Timing((1.0,))), TypeError, "numerator"),
    BadInput("utils.perf.LapTimer", "a device torch does not know", lambda: perf.LapTimer("gpu"), ValueError, "gpu"),
    BadInput("utils.perf.fastest_per_step", "runs of different lengths",
             lambda: perf.fastest_per_step([[1.0], [1.0, 2.0]]), ValueError, "runs"),
    BadInput("utils.perf.tokens_per_second", "zero seconds", lambda: perf.tokens_per_second(10, 0.0),
             ValueError, "seconds"),
    BadInput("utils.perf.tokens_per_second", "a float token count", lambda: perf.tokens_per_second(10.5, 1.0),
             TypeError, "n_tokens"),
    BadInput("utils.perf.non_embedding_parameters", "a model instead of its config",
             lambda: perf.non_embedding_parameters(torch.nn.Linear(2, 2)), TypeError, "config"),
    BadInput("utils.perf.training_flops_per_token", "a context longer than the model's",
             lambda: perf.training_flops_per_token(TINY, seq_len=1000), ValueError, "seq_len"),
    BadInput("utils.perf.flops_left_out", "a zero context", lambda: perf.flops_left_out(TINY, 0), ValueError,
             "seq_len"),
    BadInput("utils.perf.peak_tflops", "a device index instead of its name", lambda: perf.peak_tflops(0),
             TypeError, "device_name"),
    BadInput("utils.perf.peak_tflops", "a GPU the table does not hold", lambda: perf.peak_tflops("NVIDIA H100 PCIe"),
             perf.UnknownDeviceError, "device_name"),
    BadInput("utils.perf.mfu", "a CPU", lambda: perf.mfu(1e4, 1e9, "Intel(R) Xeon(R) Processor"),
             perf.UnknownDeviceError, "MFU is not defined"),
    BadInput("utils.perf.mfu", "a negative throughput", lambda: perf.mfu(-1.0, 1e9, "NVIDIA H200"), ValueError,
             "tokens_per_s"),
    BadInput("utils.perf.matmul_tflops", "a dtype given as text", lambda: perf.matmul_tflops(8, "bf16"), TypeError,
             "dtype"),
    BadInput("utils.perf.matmul_tflops", "a zero size", lambda: perf.matmul_tflops(0), ValueError, "n"),
    BadInput("utils.perf.peak_memory_bytes", "a device without a peak counter",
             lambda: perf.peak_memory_bytes(lambda: None, "meta"), ValueError, "device"),
    BadInput("utils.perf.peak_memory_bytes", "no function", lambda: perf.peak_memory_bytes(None), TypeError, "fn"),
    BadInput("utils.perf.saved_activation_bytes", "a config instead of the model",
             lambda: perf.saved_activation_bytes(lambda: None, TINY), TypeError, "model"),
    BadInput("utils.perf.memory_budget", "a Llama config (SwiGLU)",
             lambda: perf.memory_budget(preset("tiny-llama"), 2), ValueError, "mlp"),
    BadInput("utils.perf.memory_budget", "fp16, which it does not count",
             lambda: perf.memory_budget(TINY, 2, precision="fp16"), ValueError, "precision"),
    BadInput("utils.perf.memory_budget", "flash as the attention's name",
             lambda: perf.memory_budget(TINY, 2, attention="flash"), ValueError, "attention"),
    BadInput("utils.perf.memory_budget", "a zero batch", lambda: perf.memory_budget(TINY, 0), ValueError,
             "batch_size"),
    BadInput("utils.perf.step_peak_bytes", "a total instead of the budget's parts",
             lambda: perf.step_peak_bytes(1000), TypeError, "budget"),
    BadInput("utils.perf.CheckpointedBlock", "a function instead of a module",
             lambda: perf.CheckpointedBlock(lambda x: x), TypeError, "block"),
    BadInput("utils.perf.checkpoint_blocks", "a module without blocks",
             lambda: perf.checkpoint_blocks(torch.nn.Linear(2, 2)), TypeError, "model"),
    BadInput("utils.perf.state_bytes_per_gpu", "DeepSpeed's stage name",
             lambda: perf.state_bytes_per_gpu(10, 2, "zero3"), ValueError, "sharding"),
    BadInput("utils.perf.state_bytes_per_gpu", "zero GPUs", lambda: perf.state_bytes_per_gpu(10, 0), ValueError,
             "n_gpus"),
    # the chapter's exercise checkers: a wrong kind of answer gets an ExerciseError that says what was expected
    BadInput("utils.exercises.gpu.check_matmul_flops_per_token", "a number instead of the function",
             lambda: exercises_gpu.check_matmul_flops_per_token(854e6), exercises_gpu.ExerciseError, "function"),
    BadInput("utils.exercises.gpu.check_matmul_flops_per_token", "a function that returns nothing",
             lambda: exercises_gpu.check_matmul_flops_per_token(lambda c, t: None), exercises_gpu.ExerciseError,
             "int"),
    BadInput("utils.exercises.gpu.check_attention_matrix_bytes", "None", lambda:
             exercises_gpu.check_attention_matrix_bytes(None), exercises_gpu.ExerciseError, "function"),
    BadInput("utils.exercises.gpu.check_attention_matrix_bytes", "GiB as a float",
             lambda: exercises_gpu.check_attention_matrix_bytes(lambda c, b, t: 0.5), exercises_gpu.ExerciseError,
             "int"),
    BadInput("utils.exercises.gpu.check_max_batch_size", "the batch size itself",
             lambda: exercises_gpu.check_max_batch_size(93), exercises_gpu.ExerciseError, "function"),
    BadInput("utils.exercises.gpu.check_max_batch_size", "a float batch size",
             lambda: exercises_gpu.check_max_batch_size(lambda c, t, m, p: 93.0), exercises_gpu.ExerciseError,
             "int"),
]

NO_BAD_INPUT = {
    "utils.perf.UnknownDeviceError": "an exception type",
}


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_bad_input_gets_a_clear_error_from_utils(case):
    assert_clear_error(case)


def test_every_public_name_of_perf_has_a_case_or_a_reason():
    covered = {case.target for case in CASES} | set(NO_BAD_INPUT)
    public = {f"utils.perf.{name}" for name in perf.__all__ if callable(getattr(perf, name))}
    public |= {f"utils.exercises.gpu.{name}" for name in exercises_gpu.__all__}
    assert public - covered == set()
