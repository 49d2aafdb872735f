"""The documents name their tests: every test that README.md, CONTRIBUTING.md and BENCHMARKS.md
cite (the "Faults and refusals" table above all) exists, in the file it is cited under."""

import re
from pathlib import Path

import pytest

from repository import REPO

DOCUMENTS = ("README.md", "CONTRIBUTING.md", "BENCHMARKS.md")
TESTS = Path(REPO) / "tests"
QUALIFIED = re.compile(r"([\w/.]+\.py)::(test_\w+)(?:\[[^\]]*\])?")
BARE = re.compile(r"(test_\w+)(?:\[[^\]]*\])?")


def defined_tests(path):
    return set(re.findall(r"^\s*def (test_\w+)", path.read_text(encoding="utf-8"), re.M))


def cited_file(name):
    """A cited test file: ``core/test_x.py``, ``tests/core/test_x.py``, or a contract test's
    bare ``test_x.py``."""
    name = name.removeprefix("tests/")
    for candidate in (TESTS / name, TESTS / "contract" / name):
        if candidate.is_file():
            return candidate
    return None


def misnamed_tests(text):
    """``(line, citation, why)`` of each cited test not found where it is cited: a bare name
    belongs to the file named last before it in its table cell ("contract" before it: to the
    contract suite)."""
    contract = {name for path in (TESTS / "contract").glob("test_*.py")
                for name in defined_tests(path)}
    everywhere = {name for path in TESTS.rglob("test_*.py") for name in defined_tests(path)}
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        for cell in line.split("|"):
            current = None  # the file the cell named last
            for match in re.finditer(r"`([^`]+)`", cell):
                citation = match.group(1)
                qualified = QUALIFIED.fullmatch(citation)
                if qualified:
                    current = cited_file(qualified.group(1))
                    if current is None:
                        found.append((number, citation, "no such test file"))
                    elif qualified.group(2) not in defined_tests(current):
                        found.append((number, citation, f"not in {current.name}"))
                    continue
                bare = BARE.fullmatch(citation)
                if bare is None:
                    continue
                name = bare.group(1)
                if cell[:match.start()].rstrip().endswith("contract"):
                    current = None
                    if name not in contract:
                        found.append((number, citation, "not in the contract suite"))
                elif current is not None:
                    if name not in defined_tests(current):
                        found.append((number, citation, f"not in {current.name}"))
                elif name not in everywhere:
                    found.append((number, citation, "no such test"))
    return found


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_test_a_document_cites_is_where_it_says(document):
    assert misnamed_tests((Path(REPO) / document).read_text(encoding="utf-8")) == []


def test_a_test_cited_under_the_wrong_file_is_found():
    """The check itself: the two citations the README had under the wrong file."""
    text = ("| x | `core/test_cli.py::test_predict_says_in_one_line_that_it_took_a_checkpoints_"
            "weights`, `test_a_corrupt_checkpoint_is_named_as_one` |\n"
            "| y | contract `test_no_such_test_anywhere` |")
    assert misnamed_tests(text) == [
        (1, "test_a_corrupt_checkpoint_is_named_as_one", "not in test_cli.py"),
        (2, "test_no_such_test_anywhere", "not in the contract suite")]
