"""Sphinx configuration of the chapter's web page (tools/build_book.py writes the sources and
runs Sphinx once per language, naming it in D2L_ALEXNET_BOOK_LANGUAGE).

Everything the page loads is on the page's own server: Furo uses the system's fonts, sphinx-design
ships its CSS and JavaScript, and MathJax 3 comes from the sphinx-mathjax-offline package (copied
into _static/mathjax/) rather than from a CDN.
"""

import importlib.util
import inspect
import os
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the API page imports the package

language = os.environ.get("D2L_ALEXNET_BOOK_LANGUAGE", "en")
project = "d2l_alexnet"
author = "Aston Zhang, Zachary C. Lipton, Mu Li, Alexander J. Smola; d2l_alexnet"
html_title = {"en": "AlexNet, in four frameworks",
              "id": "AlexNet, dalam empat framework"}[language]
# The footer's line (Furo prints "Copyright ©" and this): whose the code and the text are.
copyright = {
    "en": "the d2l_alexnet developers (code: MIT). Text adapted from Dive into Deep Learning "
          "by Zhang, Lipton, Li and Smola, under CC BY-SA 4.0",
    "id": "para pengembang d2l_alexnet (kode: MIT). Teks diadaptasi dari Dive into Deep "
          "Learning karya Zhang, Lipton, Li dan Smola, di bawah CC BY-SA 4.0",
}[language]

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
    if what != "class" or signature != "(*args: Any, **kwargs: Any)":
        return None
    # Its own __init__, or the nearest of this package's classes it inherits one from (MXNet's
    # Classifier takes Module's).
    owner = next((cls for cls in inspect.getmro(obj) if "__init__" in vars(cls)
                  and cls.__module__.startswith("d2l_alexnet")), None)
    if owner is None:
        return None
    init = inspect.signature(owner.__init__)
    return str(init.replace(parameters=list(init.parameters.values())[1:])), None




def no_type_docstring(app, what, name, obj, options, lines):
    """A constant without a doc comment (``PRECISIONS``) would be shown with the docstring of
    its type (``tuple``'s); its value is what says something."""
    type_doc = inspect.getdoc(type(obj)) or ""
    if what == "data" and lines and "\n".join(lines).strip() == type_doc.strip():
        lines.clear()


# The theme's own words, which Furo writes in English whatever the language (labels in its
# templates, and strings its translations lack), in each edition's language: (pattern, words).
# Each pattern holds the markup around the words, so the chapter's text never matches one.
THEME_WORDS = {"id": [
    (r'(href="#furo-main-content">)Skip to content<', r"\1Langsung ke isi<"),
    (r'aria-label="Toggle site navigation sidebar"',
     'aria-label="Tampilkan atau sembunyikan navigasi situs"'),
    (r'aria-label="Toggle table of contents sidebar"',
     'aria-label="Tampilkan atau sembunyikan daftar isi"'),
    (r'aria-label="Toggle Light / Dark / Auto color theme"',
     'aria-label="Ganti tema warna: terang, gelap, atau otomatis"'),
    (r"<title>Expand</title>", "<title>Bentangkan</title>"),
    (r"<title>Light mode</title>", "<title>Mode terang</title>"),
    (r"<title>Dark mode</title>", "<title>Mode gelap</title>"),
    (r"<title>Auto light/dark, in light mode</title>",
     "<title>Terang atau gelap otomatis, kini terang</title>"),
    (r"<title>Auto light/dark, in dark mode</title>",
     "<title>Terang atau gelap otomatis, kini gelap</title>"),
    (r'(class="headerlink" href="[^"]*" title=")Link to this heading"', r'\1Tautan ke judul ini"'),
    (r'(class="headerlink" href="[^"]*" title=")Link to this image"', r'\1Tautan ke gambar ini"'),
    (r"<span>Back to top</span>", "<span>Kembali ke atas</span>"),
    (r'(<div class="context">\s*<span>)Previous<', r"\1Sebelumnya<"),
    (r'(<div class="context">\s*<span>)Next<', r"\1Berikutnya<"),
    (r'<div class="title">Home</div>', '<div class="title">Beranda</div>'),
    (r'(<div class="copyright">\s*)Copyright &#169;', r"\1Hak cipta &#169;"),
    (r'(<span class="toc-title">\s*)On this page', r"\1Di halaman ini"),
    (r"Made with (<a [^>]*>Sphinx</a>) and (<a [^>]*>@pradyunsg</a>)'s\s*(<a [^>]*>Furo</a>)",
     r"Dibuat dengan \1 dan \3 karya \2"),
]}


def in_the_editions_words(html, language):
    """``html``, a page of the edition in ``language``, with the theme's English words in
    that language's (see THEME_WORDS)."""
    for pattern, words in THEME_WORDS.get(language, ()):
        html = re.sub(pattern, words, html)
    return html


def translate_theme_words(app, exception):
    if exception is not None or app.builder.format != "html" or language not in THEME_WORDS:
        return
    for page in Path(app.outdir).rglob("*.html"):
        html = page.read_text(encoding="utf-8")
        translated = in_the_editions_words(html, language)
        if translated != html:
            page.write_text(translated, encoding="utf-8")


def setup(app):
    app.connect("autodoc-process-signature", own_signature)
    app.connect("autodoc-process-docstring", no_type_docstring)
    app.connect("build-finished", translate_theme_words)
