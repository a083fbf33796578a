"""One coding problem, whatever set it comes from, and the source-text helpers the loaders
share (signatures, generic mutants).

Everything here reads code as *text* (``ast.parse``, ``tokenize``): nothing is executed in
this process. Running code is :mod:`monarl.envs.tdd.execution`'s job, through the sandbox.
"""

from __future__ import annotations

import ast
import dataclasses
import io
import tokenize


@dataclasses.dataclass(frozen=True)
class Problem:
    """A problem as the environment uses it (frozen and hashable: it is a case).

    ``prompt``: what the model is shown (signature and docstring); ``entry_point``: the
    function's name; ``preamble``: source put before the model's code when it runs (imports
    and helpers the prompt defines; "" for most); ``reference``: the full reference program;
    ``solution``: the reference as the model would write it (demonstrations); ``tests``: the
    held-out test snippets (each passes or fails as a whole); ``examples``: one-line asserts
    for demonstrations; ``mutants``: wrong full programs (a test that none of them fails is
    soft)."""

    task_id: str
    source: str
    prompt: str
    entry_point: str
    preamble: str
    reference: str
    solution: str
    tests: tuple[str, ...]
    examples: tuple[str, ...]
    mutants: tuple[str, ...]


def first_function(code: str) -> ast.FunctionDef | None:
    """The first top-level ``def`` of ``code`` (None: none, or not parseable)."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    return next((n for n in tree.body if isinstance(n, ast.FunctionDef)), None)


def find_function(code: str, name: str) -> ast.FunctionDef | None:
    """The top-level ``def name`` of ``code`` (None: none, or not parseable)."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    return next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name),
                None)


def signature(node: ast.FunctionDef) -> str:
    """``def name(args):`` of a parsed function (annotations and defaults kept)."""
    return f"def {node.name}({ast.unparse(node.args)}):"


def first_argument(node: ast.FunctionDef) -> str | None:
    args = [*node.args.posonlyargs, *node.args.args]
    return args[0].arg if args else None


FLIPPED = {"<": ">=", ">": "<=", "<=": ">", ">=": "<", "==": "!=", "!=": "=="}
"""A comparison and its negation: the flipped-comparison mutant's one change."""


def flip_first_comparison(code: str) -> str | None:
    """``code`` with its first comparison operator negated (``<`` -> ``>=``...), found by the
    tokenizer so that operators inside strings are left alone; None when it has none."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(code).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return None
    for token in tokens:
        if token.type == tokenize.OP and token.string in FLIPPED:
            lines = code.splitlines(keepends=True)
            row, col = token.start
            line = lines[row - 1]
            lines[row - 1] = line[:col] + FLIPPED[token.string] + line[col + len(token.string):]
            return "".join(lines)
    return None


def generic_mutants(head: str, node: ast.FunctionDef, flip_source: str,
                    flip_prefix: str = "") -> tuple[str, ...]:
    """Wrong programs for a problem known only by its text: ``head`` (source that ends with
    the function's signature and docstring) completed by ``return None`` and by returning the
    first argument, and ``flip_prefix + flip_source`` with its first comparison negated (where
    it has one). Duplicates are dropped."""
    body = head if head.endswith("\n") else head + "\n"
    out = [body + "    return None\n"]
    first = first_argument(node)
    if first is not None:
        out.append(body + f"    return {first}\n")
    flipped = flip_first_comparison(flip_source)
    if flipped is not None:
        out.append(flip_prefix + flipped)
    return tuple(dict.fromkeys(out))
