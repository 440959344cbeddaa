"""A small mutation run over the engine: does a test fail when the code is changed?

    .venv/bin/python -m tests.engine.mutation_run [--sample N] [--seed S] [--jobs J] [FILE ...]

Each mutant changes one node of one module of `cible.engine` (FILE defaults to `_logic_ops.py`,
`_hashing.py`, `_decide.py`, `_options.py`): a comparison operator swapped, `and`/`or` swapped,
a condition negated, an arithmetic operator swapped, a constant changed, a call statement
deleted, a returned value replaced by None. The mutated module is written into a scratch copy of
`src/` (first on PYTHONPATH), then tested in two stages: a quick check in a child process (every
spec case through `decide`, traced and not, and the argument-count tables), and only if that
passes, the engine tests with pytest. A mutant is killed when either fails or runs over ten
minutes. It prints one JSON object: per file, mutation sites, mutants run, killed, and each
survivor (line and change), to judge by hand (docs/engine.md, "Mutation testing"). Standard
library and pytest only. Not part of the test suite: it takes long (a survivor costs a full
engine test run).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import copy
import inspect
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENGINE = ROOT / "src" / "cible" / "engine"
DEFAULT_FILES = ("_logic_ops.py", "_hashing.py", "_decide.py", "_options.py")
TESTS = [
    "tests/engine/test_spec.py",
    "tests/engine/test_condition_arity.py",
    "tests/engine/test_artifact_errors.py",
    "tests/engine/test_decide_robustness.py",
    "tests/engine/test_fast_path.py",
    "tests/engine/test_flat_path.py",
    "tests/engine/test_decide_details.py",
    "tests/engine/test_response_copies.py",
    "tests/engine/test_request_shapes.py",
    "tests/engine/test_hash_compat.py",
    "tests/engine/test_precondition.py",
    "tests/engine/test_regex_operator.py",
    "tests/engine/test_doctests.py",
]

_COMPARE_SWAPS: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
}
_BINARY_SWAPS: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Div,
    ast.Div: ast.Mult,
    ast.Mod: ast.Mult,
    ast.FloorDiv: ast.Div,
}


@dataclass(frozen=True)
class Mutant:
    file: str
    line: int
    change: str
    source: str


def _docstring_nodes(tree: ast.AST) -> set[int]:
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def _sites(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(index of the node in ast.walk order, kind of change) for every mutable site."""
    docstrings = _docstring_nodes(tree)
    for index, node in enumerate(ast.walk(tree)):
        if isinstance(node, ast.Compare) and type(node.ops[0]) in _COMPARE_SWAPS:
            yield index, "compare"
        elif isinstance(node, ast.BoolOp):
            yield index, "boolop"
        elif isinstance(node, ast.If | ast.While | ast.IfExp):
            yield index, "negate"
        elif isinstance(node, ast.BinOp) and type(node.op) in _BINARY_SWAPS:
            yield index, "binop"
        elif (
            isinstance(node, ast.Constant)
            and id(node) not in docstrings
            and (type(node.value) in (int, float, bool))
        ):
            yield index, "constant"
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            yield index, "delete-call"
        elif (
            isinstance(node, ast.Return)
            and node.value is not None
            and not (isinstance(node.value, ast.Constant) and node.value.value is None)
        ):
            yield index, "return-none"


def _apply(tree: ast.AST, index: int, kind: str) -> str:
    mutated = copy.deepcopy(tree)
    node = next(n for i, n in enumerate(ast.walk(mutated)) if i == index)
    if kind == "compare":
        assert isinstance(node, ast.Compare)
        node.ops[0] = _COMPARE_SWAPS[type(node.ops[0])]()
    elif kind == "boolop":
        assert isinstance(node, ast.BoolOp)
        node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
    elif kind == "negate":
        assert isinstance(node, ast.If | ast.While | ast.IfExp)
        node.test = ast.UnaryOp(op=ast.Not(), operand=node.test)
    elif kind == "binop":
        assert isinstance(node, ast.BinOp)
        node.op = _BINARY_SWAPS[type(node.op)]()
    elif kind == "constant":
        assert isinstance(node, ast.Constant)
        value = node.value
        node.value = (not value) if isinstance(value, bool) else value + 1
    elif kind == "delete-call":
        assert isinstance(node, ast.Expr)
        node.value = ast.Constant(value=None)
    elif kind == "return-none":
        assert isinstance(node, ast.Return)
        node.value = ast.Constant(value=None)
    ast.fix_missing_locations(mutated)
    return ast.unparse(mutated)


def mutants(file_name: str) -> list[Mutant]:
    text = (ENGINE / file_name).read_text(encoding="utf-8")
    tree = ast.parse(text)
    nodes = list(ast.walk(tree))
    found = []
    for index, kind in _sites(tree):
        line = getattr(nodes[index], "lineno", 0)
        snippet = ast.unparse(nodes[index]).splitlines()[0][:80]
        found.append(Mutant(file_name, line, f"{kind}: {snippet}", _apply(tree, index, kind)))
    return found


def quick_check() -> None:
    """The first stage, in a child process: every spec case through `decide` (traced and not)
    and the argument-count tables of test_condition_arity.py; raises at the first failure."""
    from cible.engine import ArtifactError, decide, load_artifact
    from tests.engine import test_condition_arity as arity
    from tests.spec.spec_cases import assert_decision_matches, case_now, load_decisioning_cases

    for _case_id, case in load_decisioning_cases():
        for trace in (True, False):
            result = decide(
                load_artifact(case["artifact"]),
                case["request"],
                profile=case.get("profile"),
                now=case_now(case),
                client=case.get("client"),
                trace=trace,
            )
            # Untraced, the reasons list matched rules only (as test_spec.py checks it).
            expected = case["expected"] if trace else {**case["expected"], "ruleReasons": []}
            assert_decision_matches({**case, "expected": expected}, result)
    for condition, message in arity.WRONG_COUNTS:
        try:
            load_artifact(arity._artifact(condition))
        except ArtifactError as error:
            assert message in str(error), (message, str(error))
        else:
            raise AssertionError(f"accepted {condition}")
    for condition in arity.RIGHT_COUNTS:
        load_artifact(arity._artifact(condition))
    # The argument-free tests of these modules, called directly (no pytest start-up): the hash
    # tests compare the pure-Python MurmurHash3 with mmh3, which decisions use when installed.
    from tests.engine import test_hash_compat

    for module in (test_hash_compat, arity):
        for name, function in sorted(vars(module).items()):
            if not name.startswith("test_") or not callable(function):
                continue
            marks = {mark.name for mark in getattr(function, "pytestmark", [])}
            if "slow" not in marks and not inspect.signature(function).parameters:
                function()


# Imported once by each worker before it forks a child per mutant: these modules never import
# `cible`, so every child imports the mutated engine afresh and only pays for the engine itself.
_PRELOAD = ("pytest", "target_decisioning_engine", "target_tools.hashing", "publicsuffixlist")


def serve() -> None:
    """A worker (``--serve``, PYTHONPATH on a scratch copy of src): for each line ``quick`` or
    ``full`` on stdin, fork a child that imports the (mutated) engine and runs the quick check,
    then for ``full`` the engine tests with pytest; answer ``killed`` or ``survived``."""
    import importlib

    for name in _PRELOAD:
        with contextlib.suppress(ImportError):  # optional ones (mmh3-free setups)
            importlib.import_module(name)
    assert not any(name == "cible" or name.startswith("cible.") for name in sys.modules)
    for line in sys.stdin:
        pid = os.fork()
        if pid == 0:  # the child: exit status 0 when every check passed
            status = 1
            quiet = os.open(os.devnull, os.O_WRONLY)
            os.dup2(quiet, 1)  # stdout is the answer pipe: pytest must not write there
            os.dup2(quiet, 2)
            try:
                quick_check()
                if line.strip() == "full":
                    import pytest

                    arguments = ["-x", "-q", "--noconftest", "-p", "no:cacheprovider"]
                    status = int(pytest.main([*arguments, "-m", "not slow", *TESTS]))
                else:
                    status = 0
            except BaseException:  # any failure, even SystemExit, kills the mutant
                status = 1
            finally:
                os._exit(status)
        killed = _wait(pid, 600)
        print("killed" if killed else "survived", flush=True)


def _wait(pid: int, timeout: float) -> bool:
    """True when the child failed or ran past ``timeout`` seconds (an endless loop)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status) != 0
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            return True
        time.sleep(0.02)


class _Worker:
    """One ``--serve`` process over one scratch copy of src."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        environment = {**os.environ, "PYTHONPATH": str(scratch / "src")}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.engine.mutation_run", "--serve"],
            cwd=ROOT,
            env=environment,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def killed(self, mutant: Mutant, quick_only: bool) -> bool:
        target = self.scratch / "src" / "cible" / "engine" / mutant.file
        original = target.read_text(encoding="utf-8")
        target.write_text(mutant.source, encoding="utf-8")
        try:
            assert self.process.stdin is not None and self.process.stdout is not None
            self.process.stdin.write("quick\n" if quick_only else "full\n")
            self.process.stdin.flush()
            return self.process.stdout.readline().strip() != "survived"
        finally:
            target.write_text(original, encoding="utf-8")

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", default=list(DEFAULT_FILES))
    parser.add_argument("--sample", type=int, default=0, help="mutants per file (0: all)")
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument(
        "--quick-only", action="store_true", help="the first stage only: a lower bound, faster"
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="FILE:LINE",
        help="only the mutants of these lines (repeatable), e.g. to re-judge survivors",
    )
    parser.add_argument("--quick-check", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.quick_check:
        quick_check()
        return
    if options.serve:
        serve()
        return
    rng = random.Random(options.seed)
    chosen: list[Mutant] = []
    totals: dict[str, int] = {}
    for file_name in options.files:
        found = mutants(file_name)
        totals[file_name] = len(found)
        if options.only:
            found = [m for m in found if f"{m.file}:{m.line}" in options.only]
        chosen += rng.sample(found, options.sample) if 0 < options.sample < len(found) else found
    scratches = []
    for _ in range(options.jobs):
        scratch = Path(tempfile.mkdtemp(prefix="cible-mutation-"))
        shutil.copytree(ROOT / "src", scratch / "src")
        scratches.append(scratch)
    workers = [_Worker(scratch) for scratch in scratches]
    queue = list(enumerate(chosen))

    def run(worker: int) -> list[tuple[Mutant, bool]]:
        done = []
        while queue:
            try:
                _position, mutant = queue.pop()
            except IndexError:
                break
            killed = workers[worker].killed(mutant, options.quick_only)
            done.append((mutant, killed))
            # Progress on stderr, one line a mutant: a long run can be followed (and judged
            # before it ends).
            verdict = "killed" if killed else "SURVIVED"
            print(f"{verdict} {mutant.file}:{mutant.line} {mutant.change}", file=sys.stderr)
            sys.stderr.flush()
        return done

    with ThreadPoolExecutor(options.jobs) as pool:
        results = [item for batch in pool.map(run, range(options.jobs)) for item in batch]
    for each in workers:
        each.close()
    for scratch in scratches:
        shutil.rmtree(scratch, ignore_errors=True)
    report: dict[str, dict[str, object]] = {}
    for file_name in options.files:
        mine = [(m, k) for m, k in results if m.file == file_name]
        report[file_name] = {
            "sites": totals[file_name],
            "mutants": len(mine),
            "killed": sum(1 for _, killed in mine if killed),
            "survivors": sorted(
                (f"{m.line}: {m.change}" for m, killed in mine if not killed),
                key=lambda text: int(text.split(":")[0]),
            ),
        }
    print(json.dumps(report, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
