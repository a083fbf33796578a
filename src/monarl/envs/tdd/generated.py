"""The generated problem set: small Python functions a tiny character-level model can learn to
test and write on a CPU (docs/tdd.md lists the families).

A *family* (``add_k``, ``is_even``, ``reverse``...) draws a name, argument names and constants
from the generator and gives the docstring, the reference body and four wrong bodies (the
mutants: off by one, the wrong operator, a constant, the input returned...), each as source
text *and* as the same Python function. The functions are this module's own trusted code: they
compute the expected values of the tests here, so generating a problem runs nothing in the
sandbox (the tests check, through the sandbox, that every reference passes its tests and every
mutant fails one).

The pool is :data:`POOL` problems with distinct prompts, drawn in order from
``numpy.random.default_rng(problem_seed)``; every :data:`EVAL_EVERY`-th (index 3, 7, 11...) is
the evaluation split, the rest the training split, so no evaluation prompt is ever trained on.
Held-out tests use inputs chosen so that every mutant fails at least one of them; the
demonstration examples use other inputs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from monarl.envs.tdd.problem import Problem

POOL = 300
"""Problems in the generated pool (distinct prompts)."""
EVAL_EVERY = 4
"""Every 4th problem of the pool (index % 4 == 3) is in the evaluation split: 75 eval, 225
train."""
HELDOUT_TESTS = 5
EXAMPLE_TESTS = 6
MAX_DRAWS = 20_000
"""Family draws before giving up on filling the pool (only reached with a broken family)."""


@dataclasses.dataclass(frozen=True)
class Body:
    """A function body ``return <source>`` and the same computation in Python."""

    source: str
    fn: Callable[..., Any]


@dataclasses.dataclass(frozen=True)
class Draft:
    """A family's draw: everything but the tests."""

    family: str
    name: str
    args: tuple[str, ...]
    doc: str
    reference: Body
    mutants: tuple[Body, ...]
    inputs: Callable[[np.random.Generator], tuple]


def _pick(rng: np.random.Generator, options: tuple) -> Any:
    return options[int(rng.integers(len(options)))]


def _int(lo: int, hi: int) -> Callable[[np.random.Generator], tuple]:
    return lambda rng: (int(rng.integers(lo, hi + 1)),)


def _ints2(rng: np.random.Generator) -> tuple:
    return int(rng.integers(-9, 10)), int(rng.integers(-9, 10))


def _word(letters: str, lo: int, hi: int) -> Callable[[np.random.Generator], tuple]:
    def draw(rng: np.random.Generator) -> tuple:
        size = int(rng.integers(lo, hi + 1))
        return ("".join(letters[int(i)] for i in rng.integers(len(letters), size=size)),)
    return draw


def _list(lo: int, hi: int, least: int, most: int) -> Callable[[np.random.Generator], tuple]:
    def draw(rng: np.random.Generator) -> tuple:
        size = int(rng.integers(least, most + 1))
        return ([int(v) for v in rng.integers(lo, hi + 1, size=size)],)
    return draw


ONE = ("x", "n", "a")
TWO = (("a", "b"), ("x", "y"), ("m", "n"))
TEXT = ("s", "text", "word")
LISTS = ("xs", "items", "nums")


def _const(kind: str, names: tuple[str, ...], doc: str, ref: tuple, mutants: tuple,
           ks: tuple[int, int], inputs: Callable[[int], Callable]) -> Callable:
    """A one-argument family with a constant ``k``: ``ref`` and ``mutants`` are ``(source
    template, fn(x, k))`` pairs; templates use ``{x}`` and ``{k}`` (``{k1}``: k + 1)."""
    def draw(rng: np.random.Generator) -> Draft:
        k = int(rng.integers(ks[0], ks[1] + 1))
        x = _pick(rng, ONE)

        def body(pair: tuple) -> Body:
            template, fn = pair
            return Body(template.format(x=x, k=k, k1=k + 1), lambda v, fn=fn: fn(v, k))

        return Draft(kind, _pick(rng, names).format(k=k), (x,), doc.format(x=x, k=k),
                     body(ref), tuple(body(m) for m in mutants), inputs(k))
    return draw


def _simple(kind: str, names: tuple[str, ...], arg_options: tuple, doc: str, ref: tuple,
            mutants: tuple, inputs: Callable) -> Callable:
    """A family without constants: templates use the argument names ``{a}``, ``{b}``."""
    def draw(rng: np.random.Generator) -> Draft:
        args = _pick(rng, arg_options)
        args = args if isinstance(args, tuple) else (args,)
        keys = dict(zip("ab", args, strict=False))

        def body(pair: tuple) -> Body:
            template, fn = pair
            return Body(template.format(**keys), fn)

        return Draft(kind, _pick(rng, names), args, doc.format(**keys), body(ref),
                     tuple(body(m) for m in mutants), inputs)
    return draw


def _count(rng: np.random.Generator) -> Draft:
    c = _pick(rng, tuple("abcde"))
    s = _pick(rng, TEXT)
    return Draft("count", _pick(rng, (f"count_{c}", f"num_{c}")), (s,),
                 f"Return how many times '{c}' occurs in {s}.",
                 Body(f"{s}.count('{c}')", lambda v: v.count(c)),
                 (Body(f"len({s})", len), Body(f"{s}.count('{c}') + 1", lambda v: v.count(c) + 1),
                  Body("0", lambda v: 0), Body("1", lambda v: 1)),
                 _word("abcde", 0, 6))


FAMILIES: dict[str, Callable[[np.random.Generator], Draft]] = {
    "add_k": _const("add_k", ("add_{k}", "plus_{k}"), "Return {x} plus {k}.",
                    ("{x} + {k}", lambda v, k: v + k),
                    (("{x} + {k1}", lambda v, k: v + k + 1), ("{x} - {k}", lambda v, k: v - k),
                     ("{x}", lambda v, k: v), ("{k}", lambda v, k: k)),
                    (1, 9), lambda k: _int(-9, 9)),
    "sub_k": _const("sub_k", ("sub_{k}", "minus_{k}"), "Return {x} minus {k}.",
                    ("{x} - {k}", lambda v, k: v - k),
                    (("{x} - {k1}", lambda v, k: v - k - 1), ("{x} + {k}", lambda v, k: v + k),
                     ("{k} - {x}", lambda v, k: k - v), ("{x}", lambda v, k: v)),
                    (1, 9), lambda k: _int(-9, 9)),
    "times_k": _const("times_k", ("times_{k}", "mul_{k}"), "Return {x} times {k}.",
                      ("{x} * {k}", lambda v, k: v * k),
                      (("{x} + {k}", lambda v, k: v + k), ("{x} * {k1}", lambda v, k: v * (k + 1)),
                       ("{x}", lambda v, k: v), ("{k}", lambda v, k: k)),
                      (2, 9), lambda k: _int(-9, 9)),
    "over_k": _const("over_k", ("over_{k}", "above_{k}"),
                     "Return True if {x} is greater than {k}.",
                     ("{x} > {k}", lambda v, k: v > k),
                     (("{x} >= {k}", lambda v, k: v >= k), ("{x} < {k}", lambda v, k: v < k),
                      ("True", lambda v, k: True), ("False", lambda v, k: False)),
                     (0, 9), lambda k: _int(k - 3, k + 3)),
    "add": _simple("add", ("add", "plus", "total"), TWO, "Return {a} plus {b}.",
                   ("{a} + {b}", lambda a, b: a + b),
                   (("{a} - {b}", lambda a, b: a - b), ("{a} * {b}", lambda a, b: a * b),
                    ("{a}", lambda a, b: a), ("0", lambda a, b: 0)), _ints2),
    "sub": _simple("sub", ("sub", "minus", "diff"), TWO, "Return {a} minus {b}.",
                   ("{a} - {b}", lambda a, b: a - b),
                   (("{b} - {a}", lambda a, b: b - a), ("{a} + {b}", lambda a, b: a + b),
                    ("{a}", lambda a, b: a), ("0", lambda a, b: 0)), _ints2),
    "max_of": _simple("max_of", ("max_of", "larger", "bigger"), TWO,
                      "Return the larger of {a} and {b}.",
                      ("{a} if {a} > {b} else {b}", lambda a, b: max(a, b)),
                      (("{a} if {a} < {b} else {b}", lambda a, b: min(a, b)),
                       ("{a}", lambda a, b: a), ("{b}", lambda a, b: b),
                       ("{a} + {b}", lambda a, b: a + b)), _ints2),
    "min_of": _simple("min_of", ("min_of", "smaller", "lesser"), TWO,
                      "Return the smaller of {a} and {b}.",
                      ("{a} if {a} < {b} else {b}", lambda a, b: min(a, b)),
                      (("{a} if {a} > {b} else {b}", lambda a, b: max(a, b)),
                       ("{a}", lambda a, b: a), ("{b}", lambda a, b: b),
                       ("{a} - {b}", lambda a, b: a - b)), _ints2),
    "abs_val": _simple("abs_val", ("abs_val", "absolute", "magnitude"), ONE,
                       "Return the absolute value of {a}.",
                       ("{a} if {a} >= 0 else -{a}", abs),
                       (("{a}", lambda a: a), ("-{a}", lambda a: -a), ("0", lambda a: 0),
                        ("{a} * {a}", lambda a: a * a)), _int(-9, 9)),
    "square": _simple("square", ("square", "squared", "sq"), ONE, "Return {a} squared.",
                      ("{a} * {a}", lambda a: a * a),
                      (("{a} * 2", lambda a: a * 2), ("{a}", lambda a: a), ("0", lambda a: 0),
                       ("{a} * {a} * {a}", lambda a: a * a * a)), _int(-9, 9)),
    "is_even": _simple("is_even", ("is_even", "even"), ("n", "x", "k"),
                       "Return True if {a} is even.",
                       ("{a} % 2 == 0", lambda a: a % 2 == 0),
                       (("{a} % 2 == 1", lambda a: a % 2 == 1), ("True", lambda a: True),
                        ("False", lambda a: False), ("{a} > 0", lambda a: a > 0)),
                       _int(-9, 9)),
    "is_odd": _simple("is_odd", ("is_odd", "odd"), ("n", "x", "k"),
                      "Return True if {a} is odd.",
                      ("{a} % 2 == 1", lambda a: a % 2 == 1),
                      (("{a} % 2 == 0", lambda a: a % 2 == 0), ("True", lambda a: True),
                       ("False", lambda a: False), ("{a} < 0", lambda a: a < 0)),
                      _int(-9, 9)),
    "is_positive": _simple("is_positive", ("is_positive", "positive"), ("n", "x", "k"),
                           "Return True if {a} is greater than 0.",
                           ("{a} > 0", lambda a: a > 0),
                           (("{a} >= 0", lambda a: a >= 0), ("{a} < 0", lambda a: a < 0),
                            ("True", lambda a: True), ("False", lambda a: False)),
                           _int(-4, 4)),
    "reverse": _simple("reverse", ("reverse", "backwards", "flip"), TEXT,
                       "Return {a} reversed.",
                       ("{a}[::-1]", lambda s: s[::-1]),
                       (("{a}", lambda s: s), ("{a}[1:]", lambda s: s[1:]), ('""', lambda s: ""),
                        ("{a} + {a}", lambda s: s + s)), _word("abcdefgh", 2, 5)),
    "count": _count,
    "length": _simple("length", ("length", "size", "str_len"), TEXT,
                      "Return the length of {a}.",
                      ("len({a})", len),
                      (("len({a}) + 1", lambda s: len(s) + 1),
                       ("len({a}) - 1", lambda s: len(s) - 1),
                       ("0", lambda s: 0), ("1", lambda s: 1)), _word("abcdefgh", 0, 6)),
    "first": _simple("first", ("first", "head", "first_item"), LISTS,
                     "Return the first item of {a}.",
                     ("{a}[0]", lambda xs: xs[0]),
                     (("{a}[-1]", lambda xs: xs[-1]), ("{a}[1]", lambda xs: xs[1]),
                      ("len({a})", len), ("0", lambda xs: 0)), _list(0, 9, 2, 5)),
    "last": _simple("last", ("last", "last_item", "final"), LISTS,
                    "Return the last item of {a}.",
                    ("{a}[-1]", lambda xs: xs[-1]),
                    (("{a}[0]", lambda xs: xs[0]), ("{a}[-2]", lambda xs: xs[-2]),
                     ("len({a})", len), ("0", lambda xs: 0)), _list(0, 9, 2, 5)),
    "sum_list": _simple("sum_list", ("sum_list", "total_of", "add_all"), LISTS,
                        "Return the sum of {a}.",
                        ("sum({a})", sum),
                        (("len({a})", len), ("sum({a}) + 1", lambda xs: sum(xs) + 1),
                         ("max({a})", max), ("0", lambda xs: 0)), _list(-3, 9, 1, 4)),
    "max_list": _simple("max_list", ("max_list", "largest", "biggest"), LISTS,
                        "Return the largest item of {a}.",
                        ("max({a})", max),
                        (("min({a})", min), ("{a}[0]", lambda xs: xs[0]),
                         ("{a}[-1]", lambda xs: xs[-1]), ("sum({a})", sum)), _list(-3, 9, 1, 4)),
    "repeat": _simple("repeat", ("repeat",), TEXT, "Return {a} repeated 3 times.",
                        ("{a} * 3", lambda s: s * 3),
                        (("{a}", lambda s: s), ("{a} * 4", lambda s: s * 4), ('""', lambda s: ""),
                         ("{a} + {a}", lambda s: s + s)), _word("abc", 1, 3)),
    "upper": _simple("upper", ("upper", "shout", "caps"), TEXT,
                     "Return {a} in upper case.",
                     ("{a}.upper()", lambda s: s.upper()),
                     (("{a}", lambda s: s), ("{a}.lower()", lambda s: s.lower()),
                      ('""', lambda s: ""), ("{a}.upper()[1:]", lambda s: s.upper()[1:])),
                     _word("abcdefgh", 1, 5)),
}
"""Every family by name (docs/tdd.md has the table)."""


def _call(fn: Callable, inputs: tuple) -> tuple[bool, Any]:
    try:
        return True, fn(*[list(v) if isinstance(v, list) else v for v in inputs])
    except Exception:  # noqa: BLE001 - a mutant may fail on an input: it then fails the test
        return False, None


def _assert(name: str, inputs: tuple, expected: Any) -> str:
    return f"assert {name}({', '.join(repr(v) for v in inputs)}) == {expected!r}"


def _catches(mutant: Body, reference: Body, inputs: tuple) -> bool:
    """Whether ``assert name(inputs) == expected`` fails for the mutant (as ``==`` reads it:
    ``0 == False`` passes)."""
    ok, value = _call(mutant.fn, inputs)
    return not ok or value != reference.fn(*inputs)


def _heldout_inputs(draft: Draft, rng: np.random.Generator) -> list[tuple] | None:
    """:data:`HELDOUT_TESTS` distinct inputs such that every mutant fails one of them."""
    for _ in range(200):
        chosen: list[tuple] = []
        for _ in range(50):
            inputs = draft.inputs(rng)
            if inputs not in chosen:
                chosen.append(inputs)
            if len(chosen) == HELDOUT_TESTS:
                break
        if all(any(_catches(m, draft.reference, i) for i in chosen) for m in draft.mutants):
            return chosen
    return None


def _other_inputs(draft: Draft, rng: np.random.Generator, taken: list[tuple]) -> list[tuple]:
    out: list[tuple] = []
    for _ in range(100):
        inputs = draft.inputs(rng)
        if inputs not in taken and inputs not in out:
            out.append(inputs)
        if len(out) == EXAMPLE_TESTS:
            break
    return out


def _function(draft: Draft, body: str) -> str:
    return f"def {draft.name}({', '.join(draft.args)}):\n    return {body}\n"


def build(draft: Draft, rng: np.random.Generator, task_id: str) -> Problem | None:
    """The problem of a family's draw (None: no held-out inputs catch every mutant)."""
    heldout = _heldout_inputs(draft, rng)
    if heldout is None:
        return None
    examples = _other_inputs(draft, rng, heldout)
    prompt = f'def {draft.name}({", ".join(draft.args)}):\n    """{draft.doc}"""\n'
    solution = _function(draft, draft.reference.source)
    return Problem(
        task_id=task_id, source="generated", prompt=prompt, entry_point=draft.name,
        preamble="", reference=solution, solution=solution,
        tests=tuple(_assert(draft.name, i, draft.reference.fn(*i)) for i in heldout),
        examples=tuple(_assert(draft.name, i, draft.reference.fn(*i)) for i in examples),
        mutants=tuple(_function(draft, m.source) for m in draft.mutants))


def generate(seed: int, count: int = POOL) -> tuple[Problem, ...]:
    """``count`` problems with distinct prompts, drawn in order from ``seed``: each draw picks
    a family uniformly, then its name, arguments, constants and test inputs."""
    rng = np.random.default_rng(seed)
    names = tuple(FAMILIES)
    out: list[Problem] = []
    seen: set[str] = set()
    for _ in range(MAX_DRAWS):
        family = names[int(rng.integers(len(names)))]
        draft = FAMILIES[family](rng)
        problem = build(draft, rng, f"generated/{len(out)}/{family}")
        if problem is None or problem.prompt in seen:
            continue
        seen.add(problem.prompt)
        out.append(problem)
        if len(out) == count:
            return tuple(out)
    raise RuntimeError(f"the generated families gave {len(out)} distinct problems in "
                       f"{MAX_DRAWS} draws, fewer than {count}")


def split(problems: tuple[Problem, ...]) -> tuple[tuple[Problem, ...], tuple[Problem, ...]]:
    """(train, eval): every :data:`EVAL_EVERY`-th problem is in eval."""
    train = tuple(p for i, p in enumerate(problems) if i % EVAL_EVERY != EVAL_EVERY - 1)
    test = tuple(p for i, p in enumerate(problems) if i % EVAL_EVERY == EVAL_EVERY - 1)
    return train, test
