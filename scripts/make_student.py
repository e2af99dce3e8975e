"""Student versions of the chapters: the solutions out, the stubs in, the outputs of the exercise cells cleared.

Usage (what ``make student`` runs)::

    python scripts/make_student.py                 # every notebooks/NN_*.ipynb -> student/NN_*.ipynb
    python scripts/make_student.py --out DIR notebooks/05_transformer.ipynb

How a chapter presents an exercise: a code cell tagged ``solution`` defines the solution function(s); before it,
the chapter shows a stub of each function (a ``def`` whose body holds ``...`` and raises ``NotImplementedError``)
and a checker cell, ``attempted = run_exercise(checker, function)``. The student version drops each solution cell
(or, where the chapter shows no stub of a function, puts in its place a stub made from the solution's signature,
with the checker call), clears the outputs of the stub and checker cells, and keeps every other cell, outputs
included, as the chapter has it.

The output folder is ``student/`` at the repository root (git-ignored): it sits one level below the root like
``notebooks/``, so a chapter's relative paths (chapter 0 reads ``../requirements.txt``) work unchanged there.
"""

from __future__ import annotations

import argparse
import ast
import copy
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
SOLUTION_TAG = "solution"
STUDENT_KEY = "course_student"
STAMP_KEY = "course_stamp"
CHAPTER_PATTERN = re.compile(r"^\d\d_.+\.ipynb$")
_TITLE = re.compile(r"Exercise\s+(\d+)\s*:\s*([^*\n]+?)\.?(?:\*\*|\n|$)")


@dataclass(frozen=True)
class Exercise:
    """One function of an exercise: where it is, its stub, its solution and the checker that judges it.

    ``setup_source`` is the Python that makes the chapter's names available to the function (the chapter's imports
    and top-level definitions before the solution cell), so a test can run stub and solution without the chapter.
    """

    chapter: str  # "08_finetuning_classifiers"
    number: int  # 1, 2, ... in the chapter's order
    title: str  # from the chapter's "Exercise N: title" heading, "" when it has none
    function: str  # the name the learner defines
    stub_source: str  # the stub's ``def`` (the chapter's, or one made from the solution)
    solution_source: str  # the solution's ``def``
    solution_imports: str  # the imports of the solution cell itself, which the solution may use
    checker: str  # the expression that names the checker, e.g. "exercises.check_lora_forward"
    setup_source: str
    solution_cell: int  # index of the solution cell in the chapter
    stub_from_chapter: bool  # False when the chapter shows no stub and this tool made one


def chapter_paths(notebooks_dir: Path = ROOT / "notebooks") -> list[Path]:
    """Every chapter notebook, ``notebooks/NN_name.ipynb``, in chapter order (no list typed in anywhere)."""
    folder = Path(notebooks_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"no folder {folder}: pass the course's notebooks/ folder")
    return sorted(p for p in folder.iterdir() if CHAPTER_PATTERN.match(p.name))


def _is_solution(cell) -> bool:
    return cell.cell_type == "code" and SOLUTION_TAG in cell.get("metadata", {}).get("tags", [])


def _parse(cell, where: str) -> ast.Module:
    try:
        return ast.parse(cell.source)
    except SyntaxError as error:
        raise ValueError(f"{where}: a code cell is not valid Python ({error.msg}, line {error.lineno}); fix the "
                         "chapter before making its student version") from None


def _functions(tree: ast.Module) -> list[ast.FunctionDef]:
    return [node for node in tree.body if isinstance(node, ast.FunctionDef)]


def _is_stub(node: ast.FunctionDef) -> bool:
    """A ``def`` whose body holds a bare ``...`` and raises ``NotImplementedError``."""
    has_hole = any(isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant) and n.value.value is Ellipsis
                   for n in node.body)
    raises = any(isinstance(n, ast.Raise) and "NotImplementedError" in ast.unparse(n) for n in node.body)
    return has_hole and raises


def _checker_for(tree: ast.Module, function: str) -> str | None:
    """The checker applied to ``function``: ``run_exercise(checker, function)`` or ``...check_x(function)``."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        name = ast.unparse(node.func)
        if name.endswith("run_exercise") and len(node.args) == 2 and ast.unparse(node.args[1]) == function:
            return ast.unparse(node.args[0])
        if name.split(".")[-1].startswith("check_") and ast.unparse(node.args[0]) == function:
            return name
    return None


def _make_stub(node: ast.FunctionDef, number: int) -> str:
    """A stub with the solution's signature (and docstring): ``...`` then ``raise NotImplementedError``."""
    stub = copy.deepcopy(node)
    docstring = ast.get_docstring(node, clean=False)
    body: list[ast.stmt] = [ast.Expr(ast.Constant(docstring))] if docstring else []
    message = f"Exercise {number}: write {node.name}"
    body += [ast.Expr(ast.Constant(Ellipsis)),
             ast.Raise(exc=ast.Call(ast.Name("NotImplementedError"), [ast.Constant(message)], []))]
    stub.body = body
    return ast.unparse(ast.fix_missing_locations(stub))


def _setup_source(trees: list[ast.Module]) -> str:
    """The imports and top-level ``def``/``class`` statements of the cells before an exercise (no run-time work)."""
    kept = [node for tree in trees for node in tree.body
            if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef))]
    return "\n\n".join(ast.unparse(node) for node in kept)


def _titles(nb) -> list[str]:
    text = "\n".join(cell.source for cell in nb.cells if cell.cell_type == "markdown")
    return [title.strip() for _number, title in _TITLE.findall(text)]


def find_exercises(nb, chapter: str) -> list[Exercise]:
    """The exercises of notebook ``nb`` (read with nbformat), one :class:`Exercise` per solution function."""
    if not isinstance(nb, nbformat.NotebookNode) or "cells" not in nb:
        raise TypeError(f"nb must be a notebook read with nbformat.read(path, as_version=4), got {type(nb).__name__}")
    exercises: list[Exercise] = []
    titles = _titles(nb)
    earlier: list[ast.Module] = []
    stubs: dict[str, str] = {}
    checkers: dict[str, str] = {}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        tree = _parse(cell, f"{chapter}, cell {index}")
        if not _is_solution(cell):
            for node in _functions(tree):
                if _is_stub(node):
                    stubs[node.name] = ast.unparse(node)
            for name in stubs:
                checkers[name] = _checker_for(tree, name) or checkers.get(name, "")
            earlier.append(tree)
            continue
        functions = _functions(tree)
        if not functions:
            raise ValueError(f"{chapter}, cell {index}: a solution cell defines no function; an exercise's solution "
                             "is a def (tag the cell 'solution' only then)")
        for node in functions:
            number = len({e.solution_cell for e in exercises}) + 1
            checker = checkers.get(node.name) or _checker_for(tree, node.name)
            if not checker:
                raise ValueError(f"{chapter}, cell {index}: no checker is applied to {node.name}; add "
                                 f"`run_exercise(checks.check_..., {node.name})` to its checker cell")
            exercises.append(Exercise(
                chapter=chapter, number=number, title=titles[number - 1] if number <= len(titles) else "",
                function=node.name, stub_source=stubs.get(node.name) or _make_stub(node, number),
                solution_source=ast.unparse(node), checker=checker,
                solution_imports="\n".join(ast.unparse(n) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))), setup_source=_setup_source(earlier),
                solution_cell=index, stub_from_chapter=node.name in stubs,
            ))
        earlier.append(ast.Module(body=[n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))],
                                  type_ignores=[]))
    return exercises


def _names(tree: ast.Module, context: type) -> set[str]:
    """Names loaded (``ast.Load``) or bound (``ast.Store``, imports included) anywhere in ``tree``."""
    names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and isinstance(node.ctx, context)}
    if context is ast.Store:
        names |= {(alias.asname or alias.name).split(".")[0] for node in ast.walk(tree)
                  if isinstance(node, (ast.Import, ast.ImportFrom)) for alias in node.names}
    return names


def _check_nothing_needs_a_solution(nb, chapter: str) -> None:
    """Raise ValueError when a later cell reads a name that only a solution cell assigns (it would break)."""
    only_in_solutions: dict[str, int] = {}
    assigned: set[str] = set()
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        tree = ast.parse(cell.source)
        if _is_solution(cell):
            functions = {node.name for node in _functions(tree)}
            for name in _names(tree, ast.Store) - assigned - functions:
                only_in_solutions.setdefault(name, index)
            continue
        used = _names(tree, ast.Load) & set(only_in_solutions)
        if used:
            name = sorted(used)[0]
            raise ValueError(f"{chapter}, cell {index} reads {name!r}, which only the solution cell "
                             f"{only_in_solutions[name]} assigns: the student version would stop there. Compute it "
                             "outside the solution cell")
        assigned |= _names(tree, ast.Store) | {n.name for n in _functions(tree)}


def _exercise_cell_indices(nb) -> set[int]:
    """Stub and checker cells: a stub ``def`` or a ``run_exercise(...)`` call outside the solution cells."""
    indices = set()
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or _is_solution(cell):
            continue
        tree = ast.parse(cell.source)
        calls = {ast.unparse(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
        if any(_is_stub(node) for node in _functions(tree)) or any(c.endswith("run_exercise") for c in calls):
            indices.add(index)
    return indices


def student_notebook(nb, chapter: str):
    """The student version of chapter notebook ``nb``: a new notebook; ``nb`` is left unchanged."""
    exercises = find_exercises(nb, chapter)
    _check_nothing_needs_a_solution(nb, chapter)
    clear = _exercise_cell_indices(nb)
    made_stubs = {e.solution_cell: e for e in exercises if not e.stub_from_chapter}
    student = copy.deepcopy(nb)
    cells = []
    for index, cell in enumerate(student.cells):
        if _is_solution(cell):
            if index in made_stubs:
                exercise = made_stubs[index]
                source = f"{exercise.stub_source}\n\n\nattempted = run_exercise({exercise.checker}, {exercise.function})"
                stub = nbformat.v4.new_code_cell(source)
                stub["id"] = f"{cell.get('id', 'cell')}-stub"
                cells.append(stub)
            continue
        if index in clear:
            cell.outputs, cell.execution_count = [], None
        cells.append(cell)
    student.cells = cells
    student.metadata.pop(STAMP_KEY, None)  # the stamp vouches for the chapter's outputs, not for this copy
    student.metadata[STUDENT_KEY] = {
        "chapter": f"notebooks/{chapter}.ipynb",
        "exercises": [f"{e.number}: {e.function}" for e in exercises],
    }
    return student


def write_student_versions(paths: list[Path], out_dir: Path) -> list[Path]:
    """Write the student version of every chapter in ``paths`` into ``out_dir``; return the files written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no notebook {path}: pass notebooks/NN_name.ipynb files")
        nb = nbformat.read(path, as_version=4)
        target = out / path.name
        nbformat.write(student_notebook(nb, path.stem), target)
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="chapters (default: every notebooks/NN_*.ipynb)")
    parser.add_argument("--out", type=Path, default=ROOT / "student", help="output folder (default: student/)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    paths = args.notebooks or chapter_paths()
    written = write_student_versions(paths, args.out)
    for path in written:
        nb = nbformat.read(path, as_version=4)
        print(f"{path}: {len(nb.metadata[STUDENT_KEY]['exercises'])} exercises")
    print(f"{len(written)} student notebooks in {args.out} ({time.perf_counter() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
