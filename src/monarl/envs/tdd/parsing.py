"""Reading the model's replies: its tests (turn 0) and its code (turn 1).

Parsing only (``ast.parse``): nothing the model wrote runs in this process. A reply may wrap
its code in a Markdown fence (pretrained chat models do); the fenced text is then what counts.

Tests: the lines that, stripped, start with ``assert``, are at most :data:`MAX_TEST_CHARS`
long, parse as exactly one ``assert`` statement and name the entry point; repeats are dropped
and the first ``limit`` kept. ``assert True`` is no test (it does not call the function);
``assert add(1, 1) == add(1, 1)`` is one, and a soft one (every mutant passes it).
"""

from __future__ import annotations

import ast
import re
import warnings

MAX_TEST_CHARS = 300
"""Longest test line read (bounds what the parser sees of a reply)."""
_FENCE = re.compile(r"```[ \t]*[A-Za-z0-9_+-]*[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL)
_PARSE_ERRORS = (SyntaxError, ValueError, RecursionError, MemoryError)


def unfence(reply: str) -> str:
    """The text inside the reply's Markdown code fences (all of them, joined), or the reply
    itself when it has none."""
    blocks = _FENCE.findall(reply)
    return "\n".join(blocks) if blocks else reply


_SOURCE = "<model text>"
# The parser's SyntaxWarnings on model text (``1if``, invalid escapes) would flood a run's log,
# and the text is judged, not run. One filter, set once and limited to this file name: unlike
# ``warnings.catch_warnings`` it is safe on the overseer's threads, and other code still warns.
warnings.filterwarnings("ignore", category=SyntaxWarning, module=re.escape(_SOURCE) + r"\Z")


def _parse(text: str) -> ast.Module:
    """``ast.parse`` of model text, under the file name whose SyntaxWarnings are ignored."""
    return ast.parse(text, filename=_SOURCE)


def _names(tree: ast.AST) -> set[str]:
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}


def parse_tests(reply: str, entry_point: str, limit: int) -> tuple[str, ...]:
    """The reply's tests (see the module docstring)."""
    out: list[str] = []
    for raw in unfence(reply).splitlines():
        line = raw.strip()
        if not line.startswith("assert") or len(line) > MAX_TEST_CHARS or line in out:
            continue
        try:
            tree = _parse(line)
        except _PARSE_ERRORS:
            continue
        if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assert):
            continue
        if entry_point not in _names(tree):
            continue
        out.append(line)
        if len(out) >= limit:
            break
    return tuple(out)


CODE_READINGS = ("whole", "definitions")
"""How a code reply becomes the program (tdd's ``code`` setting): ``whole``, the reply (or its
fenced text) as one module; ``definitions``, only what :func:`definitions` keeps."""
_KEPT = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def extract_code(reply: str, reading: str = "whole") -> str:
    """The code of a reply: its fenced text, else the reply, with a final newline; with
    ``reading = "definitions"`` only its definitions (:func:`definitions`)."""
    if reading not in CODE_READINGS:
        raise ValueError(f"reading={reading!r} is invalid: must be one of {CODE_READINGS}")
    code = unfence(reply).replace("\r\n", "\n").strip("\n")
    if reading == "definitions":
        code = definitions(code)
    return code + "\n" if code else ""


def _longest_parsing_prefix(code: str) -> tuple[str, ast.Module] | None:
    """The longest run of the code's first lines that parses (the whole code when it does)."""
    lines = code.split("\n")
    for end in range(len(lines), 0, -1):
        text = "\n".join(lines[:end])
        try:
            return text, _parse(text)
        except _PARSE_ERRORS:
            continue
    return None


def definitions(code: str) -> str:
    """The top-level imports, function and class definitions (with their decorators) and
    call-free assignments of the longest prefix of ``code`` that parses; everything else at the
    top level (calls, prints, asserts, ``if __name__ == "__main__":`` blocks, loops) and
    anything after the first line that breaks parsing (prose, a cut-off line) is dropped.

    Why: a pretrained model often writes a correct function and then goes on, with a usage
    example that raises or a sentence of prose, and run as one module (``whole``) the reply
    then fails every test although the function is right. The paper's turn 2 asks for the
    function; this reads the reply that way. Parsing only: nothing here runs the text."""
    found = _longest_parsing_prefix(code)
    if found is None:
        return ""
    text, tree = found
    kept = []
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            if node.value is None or any(isinstance(n, ast.Call) for n in ast.walk(node.value)):
                continue
        elif not isinstance(node, _KEPT):
            continue
        segment = ast.get_source_segment(text, node)
        if segment is None:
            continue
        decorators = [f"@{ast.get_source_segment(text, d)}"
                      for d in getattr(node, "decorator_list", ())]
        kept.append("\n".join([*decorators, segment]))
    return "\n\n".join(kept)


def code_valid(code: str, entry_point: str) -> bool:
    """Whether ``code`` parses and defines ``entry_point`` at its top level."""
    try:
        tree = _parse(code)
    except _PARSE_ERRORS:
        return False
    return any(isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
               and node.name == entry_point for node in tree.body)
