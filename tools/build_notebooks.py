#!/usr/bin/env python3
"""Build the chapter's notebooks from their Markdown sources in ``chapter/``.

The sources are the chapter as text, one file per language and notebook
(``chapter/en/alexnet.md``, ``chapter/id/alexnet.md``, and the same for
``alexnet-in-another-lesson.md``), in MyST Markdown as jupytext reads it, with the book's own
d2lbook conventions inside (d2l, sec_alexnet):

- a code cell whose first line is ``%%tab pytorch`` (or ``%%tab mxnet, jax``) belongs to those
  frameworks only; a code cell without it belongs to all;
- prose between ``:begin_tab:`pytorch``` and ``:end_tab:`` belongs to that framework only;
- ``:label:`name``` lines name a section (they are dropped from the notebooks), and
  ``:cite:`key``` cites ``chapter/references.bib``: it becomes "(Author et al., year)" and the
  works cited are listed in a References cell at the end.

jupytext parses the Markdown into cells; this script only selects each framework's cells and
writes the notebooks (nbformat 4.5, without outputs, laid out as ``nbformat.write`` lays them
out). Cells that stand in the same place in the source carry the same ``id`` in every
framework's notebook and in both languages' (``cell-001``…), so the web page can put a
framework's version of a cell next to the others' (tools/build_book.py).

Usage::

    python tools/build_notebooks.py            # (re)write notebooks/*.ipynb, notebooks/id/*.ipynb
    python tools/build_notebooks.py --check    # exit 1 and name the stale files, writing nothing
"""

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE_DIR = ROOT / "chapter"
NOTEBOOK_DIR = ROOT / "notebooks"
LANGUAGES = {"en": NOTEBOOK_DIR, "id": NOTEBOOK_DIR / "id"}
FRAMEWORKS = ("pytorch", "mxnet", "jax", "tensorflow")  # the book's tab order
CHAPTER_SOURCE = "alexnet.md"
LESSON_SOURCE = "alexnet-in-another-lesson.md"
LESSON_FILE = "alexnet-in-another-lesson.ipynb"
BIBLIOGRAPHY = SOURCE_DIR / "references.bib"
REFERENCES_HEADING = {"en": "## References", "id": "## Daftar pustaka"}

TAB_LINE = re.compile(r"^%%tab\s+(.+)$")
BEGIN_TAB = re.compile(r"^:begin_tab:`([^`]+)`\s*$")
END_TAB = ":end_tab:"
LABEL_LINE = re.compile(r"^:label:`[^`]+`\s*$")
CITE = re.compile(r":cite:`([^`]+)`")


class SourceError(ValueError):
    """A source breaks the conventions above: the message names the file and what to fix."""


def frameworks_of(names, where):
    """``"pytorch, mxnet"`` -> ``("pytorch", "mxnet")``; ``all`` is every framework."""
    chosen = tuple(name.strip() for name in names.split(","))
    if chosen == ("all",):
        return FRAMEWORKS
    unknown = [name for name in chosen if name not in FRAMEWORKS]
    if unknown:
        raise SourceError(f"{where}: unknown framework {unknown[0]!r} in a tab: choose from "
                          f"{', '.join(FRAMEWORKS)} or all")
    return chosen


def split_prose(text, where):
    """A Markdown cell as ``[(frameworks or None, text), ...]``: the shared runs and the
    ``:begin_tab:`` blocks, in order, blank runs left out."""
    segments, lines, tab = [], [], None

    def close():
        body = "\n".join(lines).strip("\n")
        if body.strip():
            segments.append((tab, body))
        lines.clear()

    for line in text.splitlines():
        begin = BEGIN_TAB.match(line)
        if begin:
            if tab is not None:
                raise SourceError(f"{where}: :begin_tab: inside another tab block: close it with "
                                  f"{END_TAB} first")
            close()
            tab = frameworks_of(begin.group(1), where)
        elif line.strip() == END_TAB:
            if tab is None:
                raise SourceError(f"{where}: {END_TAB} without a :begin_tab:")
            close()
            tab = None
        elif not LABEL_LINE.match(line):
            lines.append(line)
    if tab is not None:
        raise SourceError(f"{where}: a :begin_tab: block is never closed with {END_TAB}")
    close()
    return segments


def read_source(path):
    """The source as ``[(kind, frameworks or None, text, metadata), ...]``, one entry per cell of
    a framework's notebook: a Markdown cell of jupytext's is split at its tab blocks."""
    import jupytext

    notebook = jupytext.read(path, fmt="md:myst")
    where = path.relative_to(ROOT)
    entries = []
    for cell in notebook.cells:
        metadata = dict(cell.metadata)
        if cell.cell_type == "markdown":
            entries += [("markdown", tab, text, {}) for tab, text in split_prose(cell.source,
                                                                                where)]
            continue
        first, _, rest = cell.source.partition("\n")
        tab = TAB_LINE.match(first)
        if tab:
            entries.append(("code", frameworks_of(tab.group(1), where), rest, metadata))
        else:
            entries.append(("code", None, cell.source, metadata))
    return entries


def cell_ids(entries):
    """One id per entry: consecutive framework-specific entries of one kind and of disjoint
    frameworks are one place in the chapter (each framework's version of it), so they share an
    id; every other entry has its own."""
    ids, count, group = [], 0, None
    for kind, tab, _, _ in entries:
        if tab is not None and group is not None and group[0] == kind and \
                not set(tab) & group[1]:
            group[1].update(tab)
        else:
            count += 1
            group = (kind, set(tab)) if tab is not None else None
        ids.append(f"cell-{count:03d}")
    return ids


# ---- citations ----------------------------------------------------------------------------------

BIB_ENTRY = re.compile(r"@\w+\{([^,\s]+),(.*?)\n\}", re.S)
BIB_FIELD = re.compile(r"(\w+)\s*=\s*\{((?:[^{}]|\{[^{}]*\})*)\}", re.S)
LATEX_ACCENT = re.compile(r"\{\\'(\w)\}")


def _plain(text):
    text = LATEX_ACCENT.sub(lambda match: match.group(1) + "\u0301", text)
    return " ".join(text.replace("{", "").replace("}", "").replace("--", "–").split())


def read_bibliography(path=BIBLIOGRAPHY):
    """``{key: {field: text}}`` of a BibTeX file in the book's style (braced fields)."""
    entries = {}
    for key, body in BIB_ENTRY.findall(path.read_text(encoding="utf-8")):
        entries[key] = {name.lower(): _plain(value) for name, value in BIB_FIELD.findall(body)}
    return entries


def _surnames(entry):
    return [author.split(",")[0].strip() for author in entry["author"].split(" and ")]


def cite_text(entry, language):
    """"Krizhevsky et al., 2012" (Indonesian: "Krizhevsky dkk., 2012")."""
    names = _surnames(entry)
    if len(names) == 1:
        who = names[0]
    elif len(names) == 2:
        who = f"{names[0]} {'and' if language == 'en' else 'dan'} {names[1]}"
    else:
        who = f"{names[0]} {'et al.' if language == 'en' else 'dkk.'}"
    return f"{who}, {entry['year']}"


def reference_line(entry, language="en"):
    """One entry of the reference list, in Markdown."""
    authors = entry["author"].split(" and ")
    # BibTeX's "and others" is the reference list's "et al." (Indonesian: "dkk.", as its
    # citations say)
    others = "et al." if language == "en" else "dkk."
    names = ", ".join(others if author.strip() == "others" else
                      " ".join(reversed([part.strip() for part in author.split(",", 1)]))
                      for author in authors)
    where = entry.get("booktitle") or entry.get("journal") or entry.get("publisher", "")
    details = [f"*{where}*" if where else ""]
    if entry.get("volume"):
        details.append(entry["volume"])
    if entry.get("pages"):
        details.append(entry["pages"])
    line = f"{names} ({entry['year']}). {entry['title']}. " + ", ".join(d for d in details if d)
    if entry.get("url"):
        line += f". {entry['url']}"
    return line + "."


def cite(text, bibliography, cited, language, where):
    """``text`` with every ``:cite:`` replaced, the keys appended to ``cited`` in order."""

    def replace(match):
        keys = [key.strip() for key in match.group(1).split(",")]
        for key in keys:
            if key not in bibliography:
                raise SourceError(f"{where}: :cite:`{key}` is not in "
                                  f"{BIBLIOGRAPHY.relative_to(ROOT)}: add the entry")
            if key not in cited:
                cited.append(key)
        return "(" + "; ".join(cite_text(bibliography[key], language) for key in keys) + ")"

    return CITE.sub(replace, text)


# ---- notebooks ----------------------------------------------------------------------------------

def _cell(cell_type, cell_id, source, metadata=None):
    cell = {"cell_type": cell_type, "id": cell_id, "metadata": metadata or {}, "source": source}
    if cell_type == "code":
        cell.update(execution_count=None, outputs=[])
    return cell


def build_notebook(path, language, framework=None, bibliography=None):
    """The notebook of ``framework`` (every cell without a tab when ``None``) from the source
    at ``path``, as an nbformat 4.5 dict without outputs."""
    bibliography = read_bibliography() if bibliography is None else bibliography
    where = path.relative_to(ROOT)
    entries = read_source(path)
    cells, cited = [], []
    for (kind, tab, text, metadata), cell_id in zip(entries, cell_ids(entries)):
        if tab is not None and (framework is None or framework not in tab):
            continue
        if kind == "markdown":
            text = cite(text, bibliography, cited, language, where)
        cells.append(_cell(kind, cell_id, text, metadata))
    if cited:
        lines = [f"- {reference_line(bibliography[key], language)}" for key in cited]
        cells.append(_cell("markdown", "references",
                           REFERENCES_HEADING[language] + "\n\n" + "\n".join(lines)))
    return {
        "cells": cells,
        "metadata": {
            "d2l_alexnet": ({"backend": framework, "language": language} if framework
                            else {"lesson": "another-lesson", "language": language}),
            "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python",
                           "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def render(notebook):
    """The file text of a notebook, exactly as ``nbformat.write`` lays it out: sources split
    into lines, keys sorted, one-space indent, non-ASCII kept, a final newline."""
    notebook = json.loads(json.dumps(notebook))  # a copy
    for cell in notebook["cells"]:
        if isinstance(cell["source"], str):
            cell["source"] = cell["source"].splitlines(True)
    return json.dumps(notebook, sort_keys=True, indent=1, separators=(",", ": "),
                      ensure_ascii=False) + "\n"


def notebook_path(framework, language):
    return LANGUAGES[language] / f"alexnet-{framework}.ipynb"


def source_path(language, name=CHAPTER_SOURCE):
    return SOURCE_DIR / language / name


def generate():
    """``{path: file text}`` for all ten notebooks: the chapter's eight and the lesson's two."""
    bibliography = read_bibliography()
    texts = {}
    for language, directory in LANGUAGES.items():
        for framework in FRAMEWORKS:
            texts[notebook_path(framework, language)] = render(build_notebook(
                source_path(language), language, framework, bibliography))
        texts[directory / LESSON_FILE] = render(build_notebook(
            source_path(language, LESSON_SOURCE), language, None, bibliography))
    return texts


def validate(texts):
    """Check every notebook against the nbformat schema."""
    import nbformat

    for path, text in texts.items():
        try:
            nbformat.validate(nbformat.reads(text, as_version=4))
        except nbformat.ValidationError as error:
            raise SourceError(f"{path.relative_to(ROOT)} is not a valid notebook: "
                              f"{error.message}") from None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if a committed notebook differs")
    args = parser.parse_args(argv)
    try:
        texts = generate()
        validate(texts)
    except ImportError as error:
        print(f"error: {error.name} is needed to build the notebooks: pip install -e "
              "'.[test]' (jupytext, nbformat)", file=sys.stderr)
        return 2
    except SourceError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    stale = [path for path, text in texts.items()
             if not path.exists() or path.read_text(encoding="utf-8") != text]
    if args.check:
        for path in stale:
            print(f"{path.relative_to(ROOT)} is stale: run python tools/build_notebooks.py")
        return 1 if stale else 0
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".ipynb.tmp")
        temporary.write_text(texts[path], encoding="utf-8")
        temporary.replace(path)  # atomic: never a half-written notebook
        print(f"wrote {path.relative_to(ROOT)}")
    print(f"{len(texts)} notebooks, {len(stale)} updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
