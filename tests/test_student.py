"""Student notebooks: for every exercise of every chapter, the stub fails its checker with the checker's message and
the solution passes; the student version keeps every other cell as the chapter has it.

The chapters are found by pattern (notebooks/NN_*.ipynb), so a new chapter's exercises are tested without an edit.
Stub and solution run in a namespace made of the chapter's imports and top-level definitions (no chapter run).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("make_student", ROOT / "scripts" / "make_student.py")
make_student = importlib.util.module_from_spec(_spec)
sys.modules["make_student"] = make_student  # dataclasses look their module up by name
_spec.loader.exec_module(make_student)

CHAPTERS = make_student.chapter_paths(ROOT / "notebooks")
EXERCISES = [e for path in CHAPTERS for e in make_student.find_exercises(nbformat.read(path, as_version=4), path.stem)]


def _namespace(exercise, source: str) -> dict:
    """The chapter's imports and definitions, then ``source`` (a stub or a solution), run from notebooks/."""
    namespace: dict = {"__name__": "__exercise__"}
    with contextlib.chdir(ROOT / "notebooks"):
        exec(compile(exercise.setup_source, f"{exercise.chapter} (set-up)", "exec"), namespace)
        exec(compile(source, f"{exercise.chapter} exercise {exercise.number}", "exec"), namespace)
    return namespace


def _run(exercise, namespace: dict, answer) -> tuple[bool, str]:
    from utils.exercises import run_exercise

    checker = eval(exercise.checker, namespace)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.chdir(ROOT / "notebooks"):
        result = run_exercise(checker, answer)
    return result, printed.getvalue()


def test_every_chapter_is_found_and_the_chapters_with_exercises_have_them():
    assert [p.name for p in CHAPTERS][:9] == sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))[:9]
    with_exercises = {e.chapter for e in EXERCISES}
    assert len(EXERCISES) >= 29 and {"01_history", "05_transformer", "08_finetuning_classifiers"} <= with_exercises


@pytest.mark.parametrize("exercise", EXERCISES, ids=[f"{e.chapter[:2]}-ex{e.number}-{e.function}" for e in EXERCISES])
def test_stub_fails_with_the_checkers_message_and_solution_passes(exercise, one_thread):
    stub_namespace = _namespace(exercise, exercise.stub_source)
    stub = stub_namespace[exercise.function]
    attempted, printed = _run(exercise, stub_namespace, stub)
    assert attempted is False and printed.startswith("not attempted yet"), printed
    # A wrong answer (a function that returns None) gets the checker's message too, not a traceback.
    wrong = _returns_none(stub)
    attempted, printed = _run(exercise, stub_namespace, wrong)
    assert attempted is False and printed.startswith("✗"), printed

    solution_namespace = _namespace(exercise, f"{exercise.solution_imports}\n{exercise.solution_source}")
    attempted, printed = _run(exercise, solution_namespace, solution_namespace[exercise.function])
    assert attempted is True and "correct" in printed, printed


def _returns_none(function):
    """A function with ``function``'s name and signature whose body is ``return None`` (a wrong answer)."""
    import inspect

    source = f"def {function.__name__}{inspect.signature(function)}:\n    return None\n"
    scratch: dict = {}
    exec(source, function.__globals__, scratch)
    return scratch[function.__name__]


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem[:2] for p in CHAPTERS])
def test_student_version_drops_solutions_clears_exercise_outputs_and_keeps_the_rest(path):
    chapter = nbformat.read(path, as_version=4)
    unchanged = nbformat.read(path, as_version=4)
    student = make_student.student_notebook(chapter, path.stem)
    exercises = [e for e in EXERCISES if e.chapter == path.stem]
    assert not any(make_student._is_solution(cell) for cell in student.cells)
    for exercise in exercises:
        body = exercise.solution_source.split("\n", 1)[1]
        assert not any(body in cell.source for cell in student.cells), f"solution of {exercise.function} left in"
        assert any(exercise.stub_source in cell.source or exercise.function in cell.source for cell in student.cells)
    kept = [cell for cell in chapter.cells if not make_student._is_solution(cell)]
    assert [c.source for c in student.cells] == [c.source for c in kept]  # every chapter here shows its stubs
    cleared = make_student._exercise_cell_indices(chapter)
    assert len(cleared) >= len(exercises)
    for index, cell in enumerate(chapter.cells):
        if make_student._is_solution(cell):
            continue
        twin = student.cells[kept.index(cell)]
        if index in cleared:
            assert twin.outputs == [] and twin.execution_count is None
        elif cell.cell_type == "code":
            assert twin.outputs == cell.outputs
    assert make_student.STAMP_KEY not in student.metadata
    assert student.metadata[make_student.STUDENT_KEY]["chapter"] == f"notebooks/{path.name}"
    assert chapter == unchanged  # the chapter itself is left as it was
    nbformat.validate(student)


def test_a_solution_without_a_stub_gets_one_made_from_its_signature():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("**Exercise 1: double it.** Write `double(x)`."),
        nbformat.v4.new_code_cell("from utils.exercises import run_exercise"),
        nbformat.v4.new_code_cell('def double(x: float) -> float:\n    """Twice x."""\n    return 2 * x\n\n\n'
                                  "assert run_exercise(checks.check_double, double)"),
    ]
    nb.cells[2].metadata["tags"] = ["solution"]
    (exercise,) = make_student.find_exercises(nb, "99_test")
    assert exercise.title == "double it" and exercise.checker == "checks.check_double"
    assert not exercise.stub_from_chapter
    student = make_student.student_notebook(nb, "99_test")
    stub = student.cells[2].source
    assert stub.startswith("def double(x: float) -> float:") and '"""Twice x."""' in stub and "..." in stub
    assert "raise NotImplementedError('Exercise 1: write double')" in stub and "return 2 * x" not in stub
    assert stub.endswith("attempted = run_exercise(checks.check_double, double)")
    namespace: dict = {}
    exec(stub.split("\n\n\n")[0], namespace)
    with pytest.raises(NotImplementedError, match="Exercise 1"):
        namespace["double"](1.0)


def test_bad_chapters_are_refused_with_what_to_fix():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1")]
    nb.cells[0].metadata["tags"] = ["solution"]
    with pytest.raises(ValueError, match="defines no function"):
        make_student.find_exercises(nb, "99_test")
    nb.cells = [nbformat.v4.new_code_cell("def f(x):\n    return x\n")]
    nb.cells[0].metadata["tags"] = ["solution"]
    with pytest.raises(ValueError, match="no checker is applied to f"):
        make_student.find_exercises(nb, "99_test")
    nb.cells = [nbformat.v4.new_code_cell("def f(x):\n    return x\n\nresult = f(2)\ncheck_f(f)"),
                nbformat.v4.new_code_cell("print(result)")]
    nb.cells[0].metadata["tags"] = ["solution"]
    with pytest.raises(ValueError, match="reads 'result', which only the solution cell 0 assigns"):
        make_student.student_notebook(nb, "99_test")
    nb.cells = [nbformat.v4.new_code_cell("import math\n\ndef f(x):\n    return math.sqrt(x)\n\ncheck_f(f)"),
                nbformat.v4.new_code_cell("print(math.pi)")]
    nb.cells[0].metadata["tags"] = ["solution"]
    with pytest.raises(ValueError, match="reads 'math', which only the solution cell 0 assigns"):
        make_student.student_notebook(nb, "99_test")
    with pytest.raises(TypeError, match="nbformat.read"):
        make_student.find_exercises("notebooks/01_history.ipynb", "01_history")
    nb.cells = [nbformat.v4.new_code_cell("def (")]
    with pytest.raises(ValueError, match="not valid Python"):
        make_student.find_exercises(nb, "99_test")


def test_make_student_writes_every_chapter(tmp_path, capsys):
    assert make_student.main(["--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [p.name for p in CHAPTERS]
    assert f"{len(CHAPTERS)} student notebooks in {tmp_path}" in capsys.readouterr().out
    with pytest.raises(FileNotFoundError, match="no notebook"):
        make_student.write_student_versions([tmp_path / "missing.ipynb"], tmp_path)
