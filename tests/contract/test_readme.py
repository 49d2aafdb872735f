"""The README's "AlexNet in another lesson" runs as written, in every backend.

Its Python blocks are joined into one script and run in a fresh process from a folder that holds
the ``my_images`` folder the first block reads. Other backends run the same lines with their
own import; the one block written for PyTorch's own loader runs in PyTorch only.
"""

import os
import re
import subprocess
import sys

import numpy as np
from repository import REPO, child_env

SECTION = "## AlexNet in another lesson"
MODULES = {"pytorch": "torch", "tensorflow": "tensorflow", "jax": "jax", "mxnet": "mxnet"}
BOOK_IMPORT = "from d2l_alexnet import torch as d2l"


def section_blocks():
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as stream:
        text = stream.read()
    start = text.index(SECTION)
    end = text.index("\n## ", start + len(SECTION))
    return re.findall(r"```python\n(.*?)```", text[start:end], flags=re.S)


def script_for(backend_name):
    blocks = section_blocks()
    assert blocks and blocks[0].startswith(BOOK_IMPORT), "the section must start with the import"
    if backend_name != "pytorch":
        blocks = [block for block in blocks if "import torch\n" not in block]
    script = "\n".join(blocks)
    return script.replace(BOOK_IMPORT, f"from d2l_alexnet import {MODULES[backend_name]} as d2l")


def write_folder(root):
    from PIL import Image

    rng = np.random.default_rng(0)
    for label, name in enumerate(("cat", "dog", "owl")):
        (root / name).mkdir(parents=True)
        for index in range(4):
            pixels = rng.integers(0, 80, (40, 40, 3)).astype(np.uint8)
            pixels[..., label] += 150
            Image.fromarray(pixels).save(root / name / f"{index}.png")


def test_the_readme_section_runs_as_written(d2l, backend_name, tmp_path):
    write_folder(tmp_path / "my_images")
    script = tmp_path / "lesson.py"
    script.write_text(script_for(backend_name) + "\nprint('lesson done', classes.shape, "
                      "vectors.shape)\n")
    env = child_env()
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                            text=True, env=env, timeout=900)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "lesson done (16,) (16, 4096)" in result.stdout
    assert "summed over" not in result.stdout and "repeated over 3 input channels" in (
        result.stdout + result.stderr)
    assert (tmp_path / "fashion.safetensors").exists()
