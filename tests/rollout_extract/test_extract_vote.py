"""Normalization and majority voting across passes."""

from __future__ import annotations

import ast

from engine.agentless.extract.normalize import (
    Candidate,
    majority_vote,
    normalize_code,
    normalize_patch,
    patch_key,
    strip_docstrings,
)

BASE = 'def f(x):\n    """Doc."""\n    return x\n\n\ndef g():\n    return 1\n'
FIX = 'def f(x):\n    """Doc."""\n    return x + 1\n\n\ndef g():\n    return 1\n'
FIX_NOISY = 'def f(x):\n    """Other doc."""\n    # add one\n\n    return (x + 1)\n\n\ndef g():\n    return 1\n'
OTHER = 'def f(x):\n    """Doc."""\n    return x - 1\n\n\ndef g():\n    return 1\n'
COMMENT_ONLY = 'def f(x):\n    """Doc."""\n    return x  # fine\n\n\ndef g():\n    return 1\n'


def test_normalization_ignores_comments_docstrings_blank_lines() -> None:
    assert normalize_code(FIX) == normalize_code(FIX_NOISY)
    assert normalize_code(FIX) != normalize_code(OTHER)
    assert normalize_patch({"m.py": BASE}, {"m.py": FIX}) == normalize_patch({"m.py": BASE}, {"m.py": FIX_NOISY}) != ""
    assert normalize_patch({"m.py": BASE}, {"m.py": COMMENT_ONLY}) == ""
    # a body left empty by removing its docstring still unparses
    assert normalize_code('class A:\n    """Only a docstring."""\n') == "class A:\n    pass\n"
    # Python 2 text falls back to blank-line/trailing-space normalization
    assert normalize_code("print 'x'  \n\nprint 'y'\n") == "print 'x'\nprint 'y'\n"


NESTED = '''"""Module."""
if True:
    def a():
        """A."""
        return 1
else:
    class B:
        "B."
        def m(self):
            'M.'
for x in y:
    def c(): "C."
    async def d():
        """D."""
        x = "not a docstring"
while z:
    pass
else:
    def e():
        """E."""
        pass
try:
    def f():
        """F."""
        return f"{1}"
except ValueError:
    class G:
        """G."""
        x = 1
finally:
    with w:
        def h():
            """H."""
            yield
match v:
    case 1:
        def i():
            """I."""
            return lambda: "kept"
'''


def test_docstrings_go_at_every_depth_and_nothing_else() -> None:
    tree = strip_docstrings(ast.parse(NESTED))
    owners = [n for n in ast.walk(tree) if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))]
    assert len(owners) == 11  # the module and 10 classes and functions, in if/else/for/while/try/except/finally/with/match
    assert not any(isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant) for n in owners)
    strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    assert strings == {"not a docstring", "kept"}
    assert ast.unparse(tree).count("pass") == 4  # m and c had only a docstring; e had one; the while's own


def vote(samples: list[tuple[int, str, str | None]]):
    """samples: (pass, status, new text of m.py or None)."""
    texts = {f"i__pass{p}": t for p, _, t in samples}
    cands = [Candidate(p, f"i__pass{p}", s, patch_key(t) if t else "") for p, s, t in samples]
    calls: list[str] = []

    def normalized(c: Candidate) -> str:
        calls.append(c.custom_id)
        return normalize_patch({"m.py": BASE}, {"m.py": texts[c.custom_id]})

    return majority_vote(cands, normalized), calls


def test_equivalent_patches_outvote_a_different_earlier_one() -> None:
    result, _ = vote([(0, "valid", OTHER), (1, "valid", FIX), (2, "valid", FIX_NOISY)])
    assert result.winner.custom_id == "i__pass1" and result.votes == 2 and result.groups == 2


def test_ties_go_to_the_earliest_pass() -> None:
    result, _ = vote([(3, "valid", FIX), (1, "valid", OTHER)])
    assert result.winner.custom_id == "i__pass1"
    result, _ = vote([(0, "valid", FIX), (1, "valid", OTHER), (2, "valid", OTHER), (3, "valid", FIX_NOISY)])
    assert result.winner.custom_id == "i__pass0" and result.votes == 2


def test_empty_and_failed_never_win() -> None:
    result, _ = vote([(0, "failed", None), (1, "empty", None), (2, "empty", None), (3, "valid", OTHER)])
    assert result.winner.custom_id == "i__pass3"
    result, _ = vote([(0, "failed", None), (1, "empty", None)])
    assert result.winner is None
    # comment-only patches are valid but lose to any substantive one, even outnumbering it
    result, _ = vote([(0, "valid", COMMENT_ONLY), (1, "valid", COMMENT_ONLY), (2, "valid", OTHER)])
    assert result.winner.custom_id == "i__pass2"


def test_identical_passes_need_no_normalization() -> None:
    result, calls = vote([(k, "valid", FIX) for k in range(5)])
    assert result.winner.custom_id == "i__pass0" and result.votes == 5 and calls == []
    _, calls = vote([(0, "valid", FIX), (1, "valid", FIX), (2, "valid", OTHER)])
    assert calls == ["i__pass0", "i__pass2"]  # once per distinct raw patch
