import numpy as np
import pytest
import torch

from utils.exercises import ExerciseError, check_close, check_equal, check_shape, check_type, run_exercise


def test_right_answers_pass_with_one_line(capsys):
    check_type("x", 3, int)
    check_shape("t", torch.zeros(2, 3), (2, 3))
    check_close("pi", 3.14159265, np.pi)
    check_close("v", torch.tensor([1.0, 2.0]), np.array([1.0, 2.0]))
    check_equal("ids", [1, 2], [1, 2])
    assert capsys.readouterr().out.count("correct") == 3  # type and shape checks are building blocks: silent


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: check_type("x", "3", int), r"x: expected a value of type int, got str"),
        (lambda: check_shape("t", torch.zeros(3, 2), (2, 3)), r"t: expected shape \(2, 3\), got \(3, 2\)"),
        (lambda: check_shape("t", [1, 2], (2,)), r"expected an array or tensor of shape \(2,\), got list"),
        (lambda: check_close("pi", 6.28, np.pi), r"your answer is 2× the expected one"),
        (lambda: check_close("v", np.array([np.nan]), np.array([1.0])), r"NaN or infinity"),
        (lambda: check_close("n", "1", 1.0), r"n: expected a number, got str"),
        (lambda: check_equal("ids", [1, 2, 3], [1, 2]), r"expected 2 items, got 3"),
        (lambda: check_equal("ids", [2, 1], [1, 2], hint="order"), r"not equal .* Hint: order"),
    ],
)
def test_wrong_answers_are_rejected_with_what_is_wrong(call, message):
    with pytest.raises(ExerciseError, match=message):
        call()


def test_messages_do_not_reveal_the_expected_value():
    with pytest.raises(ExerciseError) as error:
        check_close("answer", 41.0, 42.0)
    assert "42" not in str(error.value)


def test_run_exercise_reports_instead_of_raising(capsys):
    def stub(_):
        raise NotImplementedError

    def wrong(_):
        raise ExerciseError("f: wrong")

    assert run_exercise(stub, 0) is False
    assert run_exercise(wrong, 0) is False
    assert run_exercise(lambda answer: None, 0) is True
    out = capsys.readouterr().out
    assert "not attempted yet" in out and "✗ f: wrong" in out


def test_run_exercise_explains_an_answer_that_is_none(capsys):
    checked = []
    assert run_exercise(checked.append, None) is False
    assert checked == []  # the checker is not called with None
    assert "✗ answer is None: run the cell that defines your answer" in capsys.readouterr().out
