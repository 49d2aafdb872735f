"""Sphinx configuration of the chapter's web page (tools/build_book.py writes the sources and
runs Sphinx once per language, naming it in D2L_ALEXNET_BOOK_LANGUAGE).

Everything the page loads is on the page's own server: Furo uses the system's fonts, sphinx-design
ships its CSS and JavaScript, and MathJax 3 comes from the sphinx-mathjax-offline package (copied
into _static/mathjax/) rather than from a CDN.
"""

import importlib.util
import inspect
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the API page imports the package

language = os.environ.get("D2L_ALEXNET_BOOK_LANGUAGE", "en")
project = "d2l_alexnet"
author = "Aston Zhang, Zachary C. Lipton, Mu Li, Alexander J. Smola; d2l_alexnet"
html_title = {"en": "AlexNet, in four frameworks",
              "id": "AlexNet, dalam empat framework"}[language]

extensions = [
    "myst_parser",
    "sphinx_design",
    "sphinx.ext.autodoc",  # the Python API page (api.md), from the docstrings
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # sets mathjax_path to its own bundled copy
]
# A framework this environment lacks (MXNet lives in an environment of its own) is replaced by
# Sphinx's stand-in, so that every backend's module imports and its page is complete.
autodoc_mock_imports = [name for name in ("torch", "tensorflow", "keras", "jax", "flax", "optax",
                                          "mxnet") if importlib.util.find_spec(name) is None]
autodoc_member_order = "bysource"
autodoc_default_options = {"show-inheritance": False}
myst_enable_extensions = ["colon_fence", "dollarmath"]

html_theme = "furo"
html_static_path = ["_static"]
html_css_files = ["book.css"]
# A local one: a browser's own request for /favicon.ico would 404 (a console error).
html_favicon = "_static/favicon.svg"
html_show_sourcelink = False
html_copy_source = False
html_last_updated_fmt = None
pygments_style = "friendly"


def own_signature(app, what, name, obj, options, signature, return_annotation):
    """A class built on a stand-in's base (a mocked Gluon Block) would show the stand-in's
    ``(*args, **kwargs)``; its own ``__init__`` has the real signature."""
    if what == "class" and signature == "(*args: Any, **kwargs: Any)" and "__init__" in vars(obj):
        init = inspect.signature(obj.__init__)
        return str(init.replace(parameters=list(init.parameters.values())[1:])), None
    return None




def no_type_docstring(app, what, name, obj, options, lines):
    """A constant without a doc comment (``PRECISIONS``) would be shown with the docstring of
    its type (``tuple``'s); its value is what says something."""
    type_doc = inspect.getdoc(type(obj)) or ""
    if what == "data" and lines and "\n".join(lines).strip() == type_doc.strip():
        lines.clear()


def setup(app):
    app.connect("autodoc-process-signature", own_signature)
    app.connect("autodoc-process-docstring", no_type_docstring)
