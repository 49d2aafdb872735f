"""Sphinx configuration of the chapter's web page (tools/build_book.py writes the sources and
runs Sphinx once per language, naming it in D2L_ALEXNET_BOOK_LANGUAGE).

Everything the page loads is on the page's own server: Furo uses the system's fonts, sphinx-design
ships its CSS and JavaScript, and MathJax 3 comes from the sphinx-mathjax-offline package (copied
into _static/mathjax/) rather than from a CDN.
"""

import os

language = os.environ.get("D2L_ALEXNET_BOOK_LANGUAGE", "en")
project = "d2l_alexnet"
author = "Aston Zhang, Zachary C. Lipton, Mu Li, Alexander J. Smola; d2l_alexnet"
html_title = {"en": "AlexNet, in four frameworks",
              "id": "AlexNet, dalam empat framework"}[language]

extensions = [
    "myst_parser",
    "sphinx_design",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # sets mathjax_path to its own bundled copy
]
myst_enable_extensions = ["colon_fence", "dollarmath"]

html_theme = "furo"
html_static_path = ["_static"]
html_css_files = ["book.css"]
html_favicon = "_static/favicon.svg"  # a local one: a browser's own request for /favicon.ico would 404
html_show_sourcelink = False
html_copy_source = False
html_last_updated_fmt = None
pygments_style = "friendly"
