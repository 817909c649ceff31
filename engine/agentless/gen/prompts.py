"""Every prompt the Agentless-style stages send, in one place (our own wording).

* localization (stage 1): the issue and the repository's tree of .py files; the bug fixer names
  up to 5 files to edit, the test writer names existing test files; one path per line in a
  fenced block;
* repair (stage 2, bug fixer): the issue, the full content of the found files, and the
  SEARCH/REPLACE edit format with an example;
* reproduction test (stage 2, test writer): the issue and the top test file, and a request for
  a standalone script that prints "Issue reproduced" / "Issue resolved" / "Other issues".
"""

from __future__ import annotations

MAX_LOCALIZED_FILES = 5

LOCALIZE_BUGFIXER = """\
You are fixing a bug in a software repository. Read the issue below and the list of the \
repository's Python files, then decide which files have to be changed to resolve the issue.

<issue>
{problem_statement}
</issue>

<repository_tree>
{tree}
</repository_tree>

Answer with at most {max_files} file paths, the most important first, exactly as they appear in \
the tree (full path from the repository root, folders joined with "/"). Put one path per line \
inside a single fenced block and write nothing else in the block, for example:
```
src/package/module.py
src/package/helpers.py
```
"""

LOCALIZE_TESTWRITER = """\
You are writing a test that reproduces an issue reported against a software repository. Read the \
issue below and the list of the repository's Python files, then choose the existing test files \
that are closest to the behaviour the issue describes (a reproduction test will be modelled on \
them).

<issue>
{problem_statement}
</issue>

<repository_tree>
{tree}
</repository_tree>

Answer with at most {max_files} test file paths, the most relevant first, exactly as they appear \
in the tree (full path from the repository root, folders joined with "/"). Put one path per line \
inside a single fenced block and write nothing else in the block, for example:
```
tests/test_module.py
tests/test_helpers.py
```
"""

FILE_BLOCK = """\
### {path}
```python
{content}```
"""

REPAIR = """\
A user reported the issue below. The files that most likely need changes are shown after it, in \
full.

<issue>
{problem_statement}
</issue>

<files>
{files}
</files>

First find the cause of the issue in these files. Then fix it with one or more SEARCH/REPLACE \
edits. Each edit has this form:

1. the line `### ` followed by the file's path;
2. the line `<<<<<<< SEARCH`;
3. a run of consecutive lines copied exactly from the current file, indentation included, long \
enough to occur only once in it;
4. the line `=======`;
5. the lines that replace them;
6. the line `>>>>>>> REPLACE`.

Wrap every edit in a ```python fenced block. Indentation matters: write `    print(x)` with its \
leading spaces if that is how it must appear. An example that changes one call:

```python
### src/shop/cart.py
<<<<<<< SEARCH
    def total(self):
        return sum(item.price for item in self.items)
=======
    def total(self):
        return sum(item.price * item.quantity for item in self.items)
>>>>>>> REPLACE
```

Several edits, also in several files, are fine; keep each SEARCH part as small as is unambiguous.
"""

REPRODUCE = """\
A user reported the issue below against a repository. One of the repository's test files is \
shown after it as a model of how the code under test is imported and exercised.

<issue>
{problem_statement}
</issue>

<test_file>
{files}
</test_file>

Write one complete, standalone Python script that reproduces the issue. The script must:
1. import everything it uses;
2. run the code path the issue describes, with the inputs the issue gives or implies;
3. print "Issue reproduced" when the behaviour described in the issue happens;
4. print "Issue resolved" when the code behaves as it should once the issue is fixed;
5. print "Other issues" when something else goes wrong (an unexpected exception, for example).

It must not need a test runner: `python reproduce_bug.py` runs it. Return the whole script in a \
single ```python fenced block, for example:

```python
from shop.cart import Cart, Item


def test_total_counts_quantity():
    try:
        cart = Cart([Item(price=2, quantity=3)])
        total = cart.total()
    except Exception:
        print("Other issues")
        return
    if total == 2:
        print("Issue reproduced")
    elif total == 6:
        print("Issue resolved")
    else:
        print("Other issues")


test_total_counts_quantity()
```
"""


def localization_prompt(role: str, problem_statement: str, tree: str, max_files: int = MAX_LOCALIZED_FILES) -> str:
    """Stage 1: which files to edit (bug fixer) or which test files to model on (test writer)."""
    template = LOCALIZE_TESTWRITER if role == "testwriter" else LOCALIZE_BUGFIXER
    return template.format(problem_statement=problem_statement, tree=tree.rstrip("\n"), max_files=max_files)


def file_blocks(files: dict[str, str]) -> str:
    """Each file as ``### path`` and its full content in a python fence (content ends in a newline)."""
    parts = []
    for path, content in files.items():
        if content and not content.endswith("\n"):
            content += "\n"
        parts.append(FILE_BLOCK.format(path=path, content=content))
    return "\n".join(parts).rstrip("\n")


def repair_prompt(problem_statement: str, files: dict[str, str]) -> str:
    """Stage 2, bug fixer: full files and the SEARCH/REPLACE format."""
    return REPAIR.format(problem_statement=problem_statement, files=file_blocks(files))


def reproduction_prompt(problem_statement: str, test_files: dict[str, str]) -> str:
    """Stage 2, test writer: the top test file and the reproduction-script rules."""
    return REPRODUCE.format(problem_statement=problem_statement, files=file_blocks(test_files))


def repair_context_prompt(problem_statement: str, context: str) -> str:
    """Agentless-style repair (gen-repair): code segments around the localized edit locations."""
    return REPAIR.format(problem_statement=problem_statement, files=context.rstrip("\n")).replace(
        "The files that most likely need changes are shown after it, in full.",
        "The code segments that most likely need changes are shown after it (\"...\" marks omitted lines).",
    )
