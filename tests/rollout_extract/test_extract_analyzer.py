"""The incremental syntax check and normalization (engine.agentless.extract.normalize.PythonAnalyzer) against
the whole-file truth: every verdict must equal compiling the whole new file, and every normalized
change must equal the one computed from a parse of the whole new file."""

from __future__ import annotations

import ast
import random
from pathlib import Path

import pytest

from engine.agentless.extract.diffs import line_diff, split_lines, syntax_error
from engine.agentless.extract.analyzer import PythonAnalyzer, normalized_key

from .helpers import structure_for

BASE = '''"""Module docstring."""
import os


class Config(dict):
    """A config."""

    def __init__(self, root):
        self.root = root

    @property
    def name(self):
        return "x"

    def load(self, path):
        if path:
            return os.path.join(self.root, path)
        else:
            return None


def helper(a, b=(1,
                 2)):
    return a + \\
        b
'''


def whole_file_change(analyzer: PythonAnalyzer, path: str, old: str, new: str):
    """The normalized change computed from a parse of the whole new file (no regions)."""
    return analyzer.analyze(path, old, new, regions=False).change


def check(analyzer: PythonAnalyzer, path: str, old: str, new: str) -> None:
    got = analyzer.analyze(path, old, new)
    assert got.error == syntax_error(path, new), new
    if got.error is None:
        assert got.change == whole_file_change(analyzer, path, old, new), new


@pytest.mark.parametrize("new", [
    # valid edits at every depth, one or several places
    BASE.replace("        self.root = root\n", "        self.root = root\n        self.n = 0\n"),
    BASE.replace("import os\n", "import os\nimport sys\n").replace('return "x"', 'return "y"'),
    BASE.replace("            return None\n", "            return None  # comment\n"),
    BASE.replace('    """A config."""\n', ""),
    BASE.replace('"""Module docstring."""\n', ""),
    BASE.replace('"""Module docstring."""\nimport os\n', '"""Module docstring."""\n'),
    BASE.replace("    @property\n", ""),
    BASE.replace("def helper(a, b=(1,\n", "def helper(a, c=0, b=(1,\n"),
    BASE + "\n\ndef added():\n    pass\n",
    BASE.replace("        b\n", "        b\n\n\nclass Other:\n    x = 1\n"),
    # errors a region could hide or invent: the whole-file verdict decides
    BASE.replace("        if path:\n", ""),  # a lone else
    BASE.replace("    def load(self, path):\n", "    def load(self, path):\n  x = 1\n"),
    BASE.replace("        self.root = root\n", ""),  # an emptied body
    BASE.replace("        self.root = root\n", "        # nothing left\n"),
    BASE.replace("    def __init__(self, root):\n        self.root = root\n",
                 "    def __init__(self, root):\n      self.root = root\n"),  # re-indented body: still valid
    BASE.replace("        return \"x\"\n", "        return (\"x\"\n"),
    BASE.replace("        return \"x\"\n", "        return '''x\n"),
    BASE.replace("class Config(dict):\n", "class Config(dict)\n"),
    BASE.replace("        self.root = root\n", "        self.root = root\n\tself.n = 0\n"),
    BASE.replace("        self.root = root\n", "        self.root = root \\\n"),
    BASE.replace("        self.root = root\n", "        self.root = root\x00\n"),
])
def test_verdicts_and_changes_equal_the_whole_file_ones(new: str) -> None:
    check(PythonAnalyzer(), "m.py", BASE, new)


def test_comment_and_docstring_changes_normalize_to_nothing() -> None:
    a = PythonAnalyzer()
    noisy = BASE.replace("            return None\n", "            # why\n\n            return None   \n")
    assert a.analyze("m.py", BASE, noisy).change is None
    assert a.analyze("m.py", BASE, BASE.replace("A config.", "Another config.")).change is None
    fix = BASE.replace('return "x"', 'return "y"')
    fix_noisy = fix.replace("    @property\n", "    # the name\n    @property\n")
    changes = [a.analyze("m.py", BASE, t).change for t in (fix, fix_noisy)]
    assert changes[0] == changes[1] is not None
    assert normalized_key([("m.py", changes[0])]) == normalized_key([("m.py", changes[1])]) != ""
    assert normalized_key([("m.py", None)]) == ""


def test_new_files_and_files_that_never_parsed() -> None:
    a = PythonAnalyzer()
    assert a.analyze("new.py", "", "print(1)\n").change is not None
    assert a.analyze("new.py", "", "print(1\n").error == syntax_error("new.py", "print(1\n")
    py2 = "print 'x'\n\nprint 'y'\n"
    res = a.analyze("old.py", py2, py2 + "print 'z'\n")
    assert res.error is not None and not res.original_parses and res.change is not None
    assert a.analyze("old.py", py2, py2.replace("\n\n", "\n")).change is None
    crlf = "x = 1\r\ny = 2\r\n"
    check(a, "crlf.py", crlf, crlf.replace("y = 2", "y = 3"))


def _mutate(lines: list[str], rnd: random.Random) -> list[str]:
    out = list(lines)
    for _ in range(rnd.randint(1, 4)):  # several places: several regions, merged or not
        k = rnd.randrange(len(out))
        line = out[k]
        indent = line[: len(line) - len(line.lstrip(" \t"))]
        op = rnd.randrange(7)
        if op == 0:
            del out[k]
        elif op == 1:
            out.insert(k, line)
        elif op == 2:
            out.insert(k, f"{indent}# note\n")
        elif op == 3:
            out.insert(k, f"{indent}value_{k} = {k}\n")
        elif op == 4 and k + 1 < len(out):
            out[k], out[k + 1] = out[k + 1], out[k]
        elif op == 5:
            out[k] = "    " + line
        else:
            out.insert(k, rnd.choice(["else:\n", f"{indent}if x:\n", ")\n", f'{indent}"""\n', "@dec\n", "\n"]))
    return out


def test_random_edits_of_real_files(fixtures_dir: Path) -> None:
    """Deterministic random edits of real repository files: many regions, depths, errors."""
    rnd = random.Random(5)
    cases = errors = 0
    for iid, paths in {"pallets__flask-4992": ["src/flask/app.py", "src/flask/config.py"],
                       "psf__requests-2317": ["requests/sessions.py", "requests/models.py"]}.items():
        structure = structure_for(fixtures_dir, iid)
        for path in paths:
            old = structure.file_text(path)
            assert old
            lines = split_lines(old)
            analyzer = PythonAnalyzer()
            for _ in range(40):
                new = "".join(_mutate(lines, rnd))
                check(analyzer, path, old, new)
                cases += 1
                errors += syntax_error(path, new) is not None
    assert cases == 160 and 20 < errors < 140  # both outcomes well represented


def test_several_regions_of_one_block_at_the_same_statement() -> None:
    # an insertion before the first line and an edit of the docstring: two splices at statement 0
    old = "# header\n" + BASE.replace('"""Module docstring."""', '"""Module\ndocstring.\n"""')
    new = "x = 0\n" + old.replace("Module\n", "Module\ny = 3\n")
    check(PythonAnalyzer(), "m.py", old, new)
    assert PythonAnalyzer().analyze("m.py", old, new).change[2] == 0


def test_grouping_matches_agentless_normalize_patch(fixtures_dir: Path) -> None:
    """Two new texts get equal keys exactly when Agentless's normalized patches are equal."""
    from engine.agentless.extract.normalize import normalize_patch

    old = BASE
    variants = [
        BASE.replace('return "x"', 'return "y"'),
        BASE.replace('return "x"', "return 'y'  # same"),
        BASE.replace('    """A config."""\n', '    """Changed."""\n'),
        BASE.replace("        self.root = root\n", '        """Only a docstring now."""\n'),
        BASE.replace("        self.root = root\n", "        pass\n"),
        BASE.replace("        self.root = root\n", '        """Doc."""\n        pass\n'),
        BASE.replace("        if path:\n", "        if path:  # c\n"),
        BASE.replace("import os\n", "import os\nimport os\n"),
    ]
    a = PythonAnalyzer()
    keys = [normalized_key([("m.py", a.analyze("m.py", old, v).change)]) for v in variants]
    agentless = [normalize_patch({"m.py": old}, {"m.py": v}) for v in variants]
    for x in range(len(variants)):
        for y in range(len(variants)):
            assert (keys[x] == keys[y]) == (agentless[x] == agentless[y]), (x, y)
        assert (keys[x] == "") == (agentless[x] == "")


def test_a_body_that_was_only_a_docstring() -> None:
    old = 'class E(Exception):\n    """Doc."""\n\n\nclass F(E):\n    """Other."""\n'
    for new in (old.replace('    """Doc."""\n', '    x = 1\n    """Doc."""\n'),
                old.replace('    """Doc."""\n', '    """Doc."""\n    x = 1\n'),
                old.replace('    """Doc."""\n', "    pass\n"),
                old.replace('    """Doc."""\n', "    # gone\n")):
        check(PythonAnalyzer(), "e.py", old, new)
    assert PythonAnalyzer().analyze("e.py", old, old.replace('    """Doc."""\n', "    pass\n")).change is None


def test_code_added_after_a_function_is_checked_one_level_up() -> None:
    a = PythonAnalyzer()
    for new in (BASE + "\n\ndef added():\n    return 1\n",
                BASE.replace("            return None\n", "            return None\n\n    def more(self):\n        pass\n"),
                BASE.replace("    def __init__(self, root):\n        self.root = root\n\n", "")):
        check(a, "m.py", BASE, new)
        assert a._by_region(a._original("m.py", BASE), "m.py", line_diff(BASE, new), None) is not None


def test_random_structural_edits_of_real_files(fixtures_dir: Path) -> None:
    """Whole functions, classes and blocks deleted, duplicated, emptied, dedented or followed by new code."""
    rnd = random.Random(9)
    structure = structure_for(fixtures_dir, "pallets__flask-4992")
    cases = 0
    for path in ["src/flask/app.py", "src/flask/config.py", "src/flask/helpers.py"]:
        old = structure.file_text(path)
        assert old
        lines = split_lines(old)
        nodes = [x for x in ast.walk(ast.parse(old))
                 if isinstance(x, (ast.FunctionDef, ast.ClassDef, ast.If, ast.For, ast.Try, ast.With))]
        analyzer = PythonAnalyzer()
        for _ in range(25):
            new_lines = list(lines)
            node = rnd.choice(nodes)
            start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])]) - 1
            end = node.end_lineno or node.lineno
            indent = new_lines[start][: len(new_lines[start]) - len(new_lines[start].lstrip(" \t"))]
            op = rnd.randrange(5)
            if op == 0:
                del new_lines[start:end]
            elif op == 1:
                new_lines[end:end] = new_lines[start:end]
            elif op == 2:
                new_lines[end:end] = ["\n", f"{indent}def added_{start}(self):\n", f"{indent}    return {start}\n"]
            elif op == 3:
                body = node.body[0].lineno - 1
                if body > start:
                    new_lines[body:end] = [new_lines[body][: len(new_lines[body]) - len(new_lines[body].lstrip())] + "pass\n"]
            else:
                new_lines[start:end] = [x.removeprefix("    ") for x in new_lines[start:end]]
            check(analyzer, path, old, "".join(new_lines))
            cases += 1
    assert cases == 75


def test_a_long_lived_analyzer_gives_the_changes_of_a_fresh_one(fixtures_dir: Path) -> None:
    """A worker's analyzer memoizes normalized statements by their source text across samples:
    random edits of real files get the verdicts and changes of an analyzer without that memo."""
    rnd = random.Random(11)
    structure = structure_for(fixtures_dir, "psf__requests-2317")
    shared, unmemoized = PythonAnalyzer(), PythonAnalyzer(max_norms=0)
    for path in ("requests/sessions.py", "requests/models.py"):
        old = structure.file_text(path)
        assert old
        lines = split_lines(old)
        for _ in range(30):
            new = "".join(_mutate(lines, rnd))
            got, fresh = shared.analyze(path, old, new), unmemoized.analyze(path, old, new)
            assert (got.error, got.change) == (fresh.error, fresh.change), new
    # statements sharing a line: the memo tells them apart by where they start and end
    old = "def f():\n    a = 1; b = 2\n    return a\n\n\ndef g():\n    a = 1; b = 3\n    return a\n"
    for new in (old.replace("return a\n\n", "return b\n\n"), old.replace("b = 3\n    return a", "b = 3\n    return b")):
        got, fresh = shared.analyze("s.py", old, new), unmemoized.analyze("s.py", old, new)
        assert got.change == fresh.change is not None
