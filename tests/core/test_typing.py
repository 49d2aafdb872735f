"""The package is typed (``py.typed``): its public API carries annotations, and mypy accepts them.

Two checks: an inspect-based one that every public function and method of the core (and the
CLI) annotates its return type and parameters, so coverage cannot slip back; and ``python -m
mypy`` on the core, the CLI and the four backends (``[tool.mypy]`` in pyproject.toml: the
frameworks' own types are not read, so it takes seconds). Without mypy the second skips, except
in CI (``CI=true``), where it fails.
"""

import ast
import importlib
import inspect
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import d2l_alexnet.core

ROOT = Path(__file__).resolve().parents[2]


def public_names(module):
    """``__all__``, else the public names the module itself defines."""
    names = getattr(module, "__all__", None)
    if names is None:
        names = [name for name, value in vars(module).items() if not name.startswith("_")
                 and getattr(value, "__module__", None) == module.__name__]
    return names


def callables_of(module):
    """(qualified name, function) for each public function, class and public method it defines."""
    for name in public_names(module):
        value = getattr(module, name)
        if inspect.isfunction(value) and value.__module__ == module.__name__:
            yield f"{module.__name__}.{name}", value
        elif inspect.isclass(value) and value.__module__ == module.__name__:
            for attribute, member in vars(value).items():
                if isinstance(member, (staticmethod, classmethod)):
                    member = member.__func__
                elif isinstance(member, property):
                    member = member.fget
                if not inspect.isfunction(member) or not member.__qualname__.startswith(name):
                    continue  # not written here (a Protocol's generated __init__)
                if attribute.startswith("_") and attribute != "__init__":
                    continue
                yield f"{module.__name__}.{name}.{attribute}", member


def unannotated(function):
    """What the function leaves unannotated: its return, its parameters (``self``/``cls`` aside)."""
    signature = inspect.signature(function)
    missing = []
    if function.__name__ != "__init__" and signature.return_annotation is inspect.Signature.empty:
        missing.append("return")
    parameters = list(signature.parameters.values())
    if parameters and parameters[0].name in ("self", "cls"):
        parameters = parameters[1:]
    missing += [parameter.name for parameter in parameters
                if parameter.annotation is inspect.Parameter.empty]
    return missing


def core_modules():
    for info in pkgutil.iter_modules(d2l_alexnet.core.__path__):
        yield importlib.import_module(f"d2l_alexnet.core.{info.name}")
    yield importlib.import_module("d2l_alexnet.cli")


def test_every_public_function_of_the_core_is_annotated():
    gaps = [f"{name}: {', '.join(missing)}"
            for module in core_modules() for name, function in callables_of(module)
            if (missing := unannotated(function))]
    assert not gaps, f"{len(gaps)} public functions lack annotations:\n" + "\n".join(gaps)


def test_mypy_accepts_the_package():
    try:
        import mypy  # noqa: F401
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("mypy is not installed (CI must run the type check: "
                        "pip install -e '.[test]')")
        pytest.skip("mypy is not installed (pip install -e '.[test]')")
    result = subprocess.run(
        [sys.executable, "-m", "mypy"],  # the files [tool.mypy] names
        cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# Read as source, not imported: the core's tests load no framework.
BACKENDS = ("torch", "tensorflow", "jax", "mxnet")
BACKEND_FILES = ("runtime.py", "data.py", "model.py", "weights.py", "trainer.py", "tensors.py")
# BookAlexNet is the book's code as the book writes it, unannotated: the chapter shows its source.
AS_THE_BOOK_WRITES_IT = {"BookAlexNet"}


def unannotated_definitions(path):
    """``(name, what it leaves unannotated)`` for each public function of a source file and each
    public method (and ``__init__``/``__call__``) of its public classes."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    functions = [(node.name, node) for node in tree.body if isinstance(node, ast.FunctionDef)]
    for cls in tree.body:
        if (isinstance(cls, ast.ClassDef) and not cls.name.startswith("_")
                and cls.name not in AS_THE_BOOK_WRITES_IT):
            functions += [(f"{cls.name}.{node.name}", node) for node in cls.body
                          if isinstance(node, ast.FunctionDef)]
    for name, node in functions:
        short = name.rsplit(".", 1)[-1]
        if short.startswith("_") and short not in ("__init__", "__call__"):
            continue
        arguments = node.args
        parameters = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs,
                      *(extra for extra in (arguments.vararg, arguments.kwarg) if extra)]
        if "." in name and parameters and parameters[0].arg in ("self", "cls"):
            parameters = parameters[1:]
        missing = [parameter.arg for parameter in parameters if parameter.annotation is None]
        if node.returns is None and short != "__init__":
            missing.insert(0, "return")
        if missing:
            yield name, missing


def test_every_public_function_of_the_backends_is_annotated():
    package = ROOT / "d2l_alexnet"
    gaps = [f"{backend}/{file}: {name}: {', '.join(missing)}"
            for backend in BACKENDS for file in BACKEND_FILES
            for name, missing in unannotated_definitions(package / backend / file)]
    assert not gaps, f"{len(gaps)} public functions lack annotations:\n" + "\n".join(gaps)
