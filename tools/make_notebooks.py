#!/usr/bin/env python3
"""Generate the chapter's eight notebooks (d2l, sec_alexnet) from this one script, and the two
editions of ``alexnet-in-another-lesson.ipynb`` (the chapter's AlexNet reused in another lesson).

Four backends (PyTorch, TensorFlow, JAX, MXNet) times two languages (English in ``notebooks/``,
Indonesian in ``notebooks/id/``). The prose of both languages and the few lines of code that
differ between backends live here, so the eight never drift apart: every notebook has the same
cells in the same order, and a notebook's two editions share every code cell but for its
comments and printed labels (``WORDS``). The notebooks teach; the package computes (models, data,
training and the cost report are imported from ``d2l_alexnet``, and the models' code, the book's
``BookAlexNet`` and ours, is shown with ``inspect.getsource``).

The files are written without outputs, in nbformat 4.5's on-disk layout (what ``nbformat.write``
produces), so opening and saving one in Jupyter changes nothing but what Jupyter adds.
``tests/core/test_notebooks.py`` checks that the committed files equal what this script makes.

Usage::

    python tools/make_notebooks.py            # (re)write notebooks/*.ipynb and notebooks/id/*.ipynb
    python tools/make_notebooks.py --check    # exit 1 and name the stale files, writing nothing
"""

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"
LANGUAGES = {"en": NOTEBOOK_DIR, "id": NOTEBOOK_DIR / "id"}

# ---- the code that differs between backends ----------------------------------------------------

# The quick run's precision per backend; WORDS holds the comment that says why, per language.
_QUICK_PRECISION = {"pytorch": "bf16", "tensorflow": "bf16", "jax": "fp32", "mxnet": "fp32"}

_INPUT_SHAPE = {"pytorch": "(1, 1, 224, 224)", "tensorflow": "(1, 224, 224, 1)",
                "jax": "(1, 224, 224, 1)", "mxnet": "(1, 1, 224, 224)"}

# How each framework predicts without dropout; {off} is the comment, in the notebook's language.
_PREDICT = {
    "pytorch": "model.eval()  # {off}\nwith torch.no_grad():\n"
               "    preds = model(X.to(trainer.device)).argmax(dim=1)",
    "tensorflow": "preds = tf.argmax(model(X, training=False), axis=1)  # {off}",
    "jax": "preds = model.predict(X)  # {off}",
    "mxnet": "preds = model(X.as_in_context(trainer.device)).argmax(axis=1)  # {off}",
}

# Comments and printed labels of the code cells: the only text in which the two editions' code
# differs (tests/core/test_notebooks.py checks that the code is otherwise the same).
WORDS = {
    "en": {
        "parameters": "# None: the chapter's full run with a GPU, the quick run without one.\n"
                      "# True: the quick run; False: the full run.",
        "quiet_tf": "before TensorFlow itself: it imports TF quietly",
        "quick": "a subset at 112×112: AlexNet visibly learns on a CPU in minutes",
        "smoke": "the project's tests: every cell runs once, too briefly to learn",
        "full": "the chapter's run: all 60,000 training images at 224×224, 10 epochs",
        "all": "all",
        "run": "run",
        "epochs": "epoch(s), batch",
        "train_images": "training images",
        "val_images": "validation images",
        "batch_line": "{train} training and {val} validation images; a batch: images {x}, "
                      "labels {y}",
        "summary": "the chapter's network at 224×224, as the book prints it",
        "model_here": "the same network, built for this run's image size",
        "off": {"pytorch": "dropout off", "tensorflow": "dropout off",
                "jax": "with the parameters fit handed back; evaluation mode",
                "mxnet": "predict mode: no dropout"},
        "correct": "{correct} of {n} images of this batch classified correctly",
        "hidden": "the two hidden fully connected layers",
        "parameters_word": "parameters",
        "mib": "MiB in fp32",
        "mflops": "MFLOPs per image",
        "after": "after epoch",
        "precision": {"pytorch": "bf16 compute, fp32 weights: faster on recent CPUs",
                      "tensorflow": "bf16 compute, fp32 weights: faster on recent CPUs",
                      "jax": "XLA runs bf16 convolutions slower than fp32 on a CPU",
                      "mxnet": "the only precision the MXNet backend trains in"},
    },
    "id": {
        "parameters": "# None: pelatihan penuh seperti di bab jika ada GPU, pelatihan cepat "
                      "jika tidak.\n# True: pelatihan cepat; False: pelatihan penuh.",
        "quiet_tf": "sebelum TensorFlow sendiri: ia mengimpor TF tanpa pesan",
        "quick": "sebagian data pada 112×112: AlexNet terlihat belajar di CPU dalam "
                 "beberapa menit",
        "smoke": "pengujian proyek: setiap sel berjalan sekali, terlalu singkat untuk belajar",
        "full": "pelatihan seperti di bab: 60.000 gambar latih pada 224×224, 10 epoch",
        "all": "semua",
        "run": "pelatihan",
        "epochs": "epoch, batch",
        "train_images": "gambar latih",
        "val_images": "gambar validasi",
        "batch_line": "{train} gambar latih dan {val} gambar validasi; satu batch: gambar {x}, "
                      "label {y}",
        "summary": "jaringan dari bab ini pada 224×224, seperti yang dicetak buku",
        "model_here": "jaringan yang sama, untuk ukuran gambar pelatihan ini",
        "off": {"pytorch": "dropout mati", "tensorflow": "dropout mati",
                "jax": "dengan parameter yang dikembalikan fit; mode evaluasi",
                "mxnet": "mode prediksi: tanpa dropout"},
        "correct": "{correct} dari {n} gambar dalam batch ini diklasifikasikan dengan benar",
        "hidden": "dua lapisan fully connected tersembunyi",
        "parameters_word": "parameter",
        "mib": "MiB dalam fp32",
        "mflops": "MFLOP per gambar",
        "after": "setelah epoch",
        "precision": {"pytorch": "hitungan bf16, parameter fp32: lebih cepat di CPU baru",
                      "tensorflow": "hitungan bf16, parameter fp32: lebih cepat di CPU baru",
                      "jax": "di CPU, XLA menjalankan konvolusi bf16 lebih lambat daripada fp32",
                      "mxnet": "satu-satunya presisi yang dilatih backend MXNet"},
    },
}

# The settings of each run mode. CI runs the English notebooks in the quick mode and fails one
# that ends below tools/run_tests.py's QUICK_MIN_VAL_ACC (measured: QUICK_VAL_ACC below); the
# Indonesian ones run the smoke mode, which only shows that every cell runs.
RUNS = {
    "quick": "max_epochs, batch_size, lr, resize = 3, 32, 0.03, 112\n"
             "    limit_train, limit_val = 4096, 1024",
    "smoke": "max_epochs, batch_size, lr, resize = 1, 32, 0.03, 112\n"
             "    limit_train, limit_val = 256, 128",
    "full": "max_epochs, batch_size, lr, resize = 10, 128, 0.01, 224\n"
            "    limit_train, limit_val = None, None",
}

# Measured runs the prose quotes: each backend's quick run (validation accuracy after its third
# epoch, as `tools/run_notebooks.py --show-output` prints it, on the 2-core CPU), and the
# chapter's full runs from results/.
QUICK_VAL_ACC = {"pytorch": 0.710, "tensorflow": 0.678, "jax": 0.643, "mxnet": 0.696}
FULL_RESULT = {
    "en": "0.8824 after ten epochs in PyTorch (838 s per epoch, `results/pytorch-bf16/`) and "
          "0.8837 in TensorFlow (726 s per epoch, `results/tensorflow-bf16/`)",
    "id": "0,8824 setelah sepuluh epoch di PyTorch (838 detik per epoch, "
          "`results/pytorch-bf16/`) dan 0,8837 di TensorFlow (726 detik per epoch, "
          "`results/tensorflow-bf16/`)",
}

BACKENDS = {
    "pytorch": {"framework": "PyTorch", "file": "alexnet-pytorch.ipynb", "module": "torch"},
    "tensorflow": {"framework": "TensorFlow", "file": "alexnet-tensorflow.ipynb",
                   "module": "tensorflow"},
    "jax": {"framework": "JAX", "file": "alexnet-jax.ipynb", "module": "jax"},
    "mxnet": {"framework": "MXNet", "file": "alexnet-mxnet.ipynb", "module": "mxnet"},
}

_FRAMEWORK_IMPORT = {"pytorch": "import torch\n", "tensorflow": "", "jax": "import jax\n",
                     "mxnet": "import mxnet as mx\n"}
_GPU_CHECK = {"pytorch": "torch.cuda.is_available()",
              "tensorflow": 'bool(tf.config.list_physical_devices("GPU"))',
              "jax": 'any(device.platform == "gpu" for device in jax.devices())',
              "mxnet": "mx.context.num_gpus() > 0"}


def _imports(backend, words):
    ours = f"from d2l_alexnet import {BACKENDS[backend]['module']} as d2l"
    if backend == "tensorflow":  # TensorFlow after our module, which silences its start-up
        ours += f"  # {words['quiet_tf']}"
    after = "import tensorflow as tf\n" if backend == "tensorflow" else ""
    # `%matplotlib inline` first, as in the book's notebooks: Jupyter then renders the figures
    # that `data.visualize` and the progress board draw as images.
    return (f"%matplotlib inline\nimport inspect\n\n{_FRAMEWORK_IMPORT[backend]}"
            f"from IPython.display import Markdown\n\n{ours}\n"
            "from d2l_alexnet.core.cost import cost_report, format_cost_report\n"
            f"from d2l_alexnet.core.notebook import comparison_table, resolve_mode\n{after}\n"
            f"gpu_available = {_GPU_CHECK[backend]}")


def _settings(backend, words):
    precision = f'"{_QUICK_PRECISION[backend]}"'
    return f'''mode, reason = resolve_mode(QUICK, gpu_available)
if mode == "quick":  # {words['quick']}
    {RUNS['quick']}
    precision = {precision}  # {words['precision'][backend]}
elif mode == "smoke":  # {words['smoke']}
    {RUNS['smoke']}
    precision = {precision}
else:  # {words['full']}
    {RUNS['full']}
    precision = "fp32"
print(f"{{mode}} {words['run']} ({{reason}}): {{max_epochs}} {words['epochs']} {{batch_size}}, "
      f"lr {{lr}}, {{resize}}×{{resize}}, {{precision}}, {words['train_images']}: "
      f"{{limit_train or '{words['all']}'}}, "
      f"{words['val_images']}: {{limit_val or '{words['all']}'}}")'''


def code(backend, key, language="en"):
    """The source of code cell ``key`` for ``backend``; ``language`` sets only its comments and
    printed labels."""
    words = WORDS[language]
    if key == "parameters":
        return f"{words['parameters']}\nQUICK = None"
    if key == "imports":
        return _imports(backend, words)
    if key == "settings":
        return _settings(backend, words)
    if key == "comparison":
        return "Markdown(comparison_table(resize=224, num_classes=10))"
    if key in SOURCES:
        return f'Markdown(f"```python\\n{{inspect.getsource({SOURCES[key]})}}```")'
    if key == "summary":
        return (f"d2l.set_seed(0)\nmodel = d2l.AlexNet(lr=0.01)  # {words['summary']}\n"
                f"model.layer_summary({_INPUT_SHAPE[backend]})")
    if key == "cost":
        return "print(format_cost_report(cost_report(resize=224, num_classes=10)))"
    if key == "data-batch":
        line = words["batch_line"].format(train="{train:,}", val="{val:,}",
                                          x="{tuple(X.shape)}", y="{tuple(y.shape)}")
        cut = line.index(";") + 1
        return ("data = d2l.FashionMNIST(batch_size=batch_size, resize=(resize, resize),\n"
                "                        limit_train=limit_train, limit_val=limit_val)\n"
                "X, y = next(iter(data.val_dataloader()))\n"
                "train, val = data.num_examples(train=True), data.num_examples(train=False)\n"
                f'print(f"{line[:cut]} "\n      f"{line[cut + 1:]}")\n'
                "data.visualize((d2l.to_numpy(X), d2l.to_numpy(y)), nrows=2, ncols=8);")
    if key == "train":
        return ("d2l.set_seed(0)\n"
                f"model = d2l.AlexNet(lr=lr, resize=resize)  # {words['model_here']}\n"
                "trainer = d2l.Trainer(max_epochs=max_epochs, num_gpus=1, precision=precision)\n"
                "history = trainer.fit(model, data)")
    if key == "predict":
        correct = words["correct"].format(correct="{correct}", n="{len(true_labels)}")
        return ("X, y = next(iter(data.val_dataloader()))\n"
                + _PREDICT[backend].format(off=words["off"][backend]) + "\n"
                "true_labels = data.text_labels(d2l.to_numpy(y))\n"
                "predicted = data.text_labels(d2l.to_numpy(preds))\n"
                'titles = [f"{true}\\n{guess}" for true, guess in zip(true_labels, predicted)]\n'
                "data.visualize((d2l.to_numpy(X), d2l.to_numpy(y)), nrows=2, ncols=8, "
                "labels=titles);\n"
                "correct = sum(true == guess for true, guess in zip(true_labels, predicted))\n"
                f'print(f"{correct}")')
    if key == "dense-cost":
        return ("report = cost_report(resize=224, num_classes=10)\n"
                'hidden = [layer for layer in report["layers"] if layer["layer"] == "Dense"][:2]\n'
                "parameters = sum(layer['parameters'] for layer in hidden)\n"
                "mebibytes = sum(layer['parameter_bytes'] for layer in hidden) / 2**20\n"
                "flops = sum(layer['forward_flops'] for layer in hidden)\n"
                f"print(f\"{words['hidden']}: {{parameters:,}} {words['parameters_word']}, \"\n"
                f"      f\"{{mebibytes:.0f}} {words['mib']}, {{flops / 1e6:.1f}} "
                f"{words['mflops']}\")\n"
                "last = history[-1]\n"
                f"print(f\"{words['after']} {{last['epoch']}}: train_loss "
                "{last['train_loss']:.3f}, \"\n"
                "      f\"val_loss {last['val_loss']:.3f}, val_acc {last['val_acc']:.3f}\")")
    raise KeyError(f"no code cell {key!r}")


# Cells that print the package's own source, so the code on the page is the code that runs.
SOURCES = {"source-book": "d2l.BookAlexNet", "source-builder": "d2l.build_network",
           "source-alexnet": "d2l.AlexNet"}


# The Indonesian edition's terms (from the chapter's own text), shown in both editions' last
# cell: (English, Indonesian).
GLOSSARY = (
    ("neural network", "jaringan neural"),
    ("channel", "saluran"),
    ("fully connected layer", "lapisan *fully connected*"),
    ("hidden layer", "lapisan tersembunyi"),
    ("convolutional layer / window", "lapisan konvolusi / jendela konvolusi"),
    ("activation function", "fungsi aktivasi"),
    ("input / output", "input / output"),
    ("preprocessing", "prapemrosesan"),
    ("feature / feature extractor", "fitur / ekstraktor fitur"),
    ("classifier", "pengklasifikasi"),
    ("learning rate", "laju pembelajaran"),
    ("training / validation / accuracy", "pelatihan / validasi / akurasi"),
    ("weights, parameters / initialization", "parameter / inisialisasi"),
)
GLOSSARY_HEADER = {"en": ("English", "Indonesian edition"),
                   "id": ("bahasa Inggris", "di notebook ini")}


def glossary_table(language):
    rows = [GLOSSARY_HEADER[language], ("---", "---"), *GLOSSARY]
    return "\n".join(f"| {english} | {indonesian} |" for english, indonesian in rows)


# ---- the prose, in both languages --------------------------------------------------------------

# Sentences that differ between backends; the prose below fills them in by name.
NOTES = {
    "en": {
        "book_style": {
            "pytorch": "one `nn.Sequential` of lazy layers (`nn.LazyConv2d`, `nn.LazyLinear`), "
                       "whose input sizes PyTorch fills in at the first batch, with `nn.ReLU` "
                       "and `nn.Dropout` between them",
            "tensorflow": "one `tf.keras.models.Sequential`, each ReLU given to its layer as "
                          "`activation='relu'`",
            "jax": "a Flax `nn.Module` whose `setup` makes one `nn.Sequential`, the pooling and "
                   "the flattening written as small functions",
            "mxnet": "one Gluon `nn.Sequential`, each ReLU given to its layer as "
                     "`activation='relu'`, and no flatten, since Gluon's `Dense` flattens its "
                     "input",
        },
        "differences": {
            "pytorch": "Two things differ. The book pads the first convolution by one pixel and "
                       "ours by none: the maps are 54×54 either way, but the book's windows "
                       "start a pixel further out. And the book's `init_cnn` runs before its "
                       "lazy layers have any weights, so it initializes nothing and PyTorch's "
                       "own default stays; ours knows every size from the table, so the Xavier "
                       "initialization reaches every weight (`BookAlexNet` here sends one batch "
                       "through first, so that the book's intent is what you get).",
            "tensorflow": "What differs is around the network. The book never passes `training=` "
                          "when it calls the model, so its dropout is never active in training; "
                          "our trainer says `training=True` in every training step and "
                          "`training=False` everywhere else. The book's TensorFlow code was "
                          "written for Keras 2 and fails under Keras 3, which current TensorFlow "
                          "ships; ours (and `BookAlexNet` here) runs on Keras 3.",
            "jax": "Three things differ. The book pads the first convolution by one pixel and "
                   "ours by none (the maps are 54×54 either way, but the book's windows start a "
                   "pixel further out). The book keeps Flax's default initialization "
                   "(LeCun-normal); ours uses the chapter's Xavier initialization. And the "
                   "book's JAX trainer no longer runs on current JAX (it names "
                   "`jax.random.PRNGKeyArray`, which JAX has removed); ours does, and hands the "
                   "trained parameters back to the model.",
            "mxnet": "The book leaves every input size to be inferred at the first batch, so its "
                     "parameters exist only after one forward pass; ours states every size, "
                     "taken from the table, so the network is initialized at once. Ours is also "
                     "hybridized (`hybridize()`) into one cached graph.",
        },
        "env": {
            "default": "**Setting up.** {framework} lives in the project's main environment: "
                       "`make setup` creates `.venv`, `.venv/bin/python -m pip install -e "
                       "'.[notebooks]'` adds Jupyter, and `.venv/bin/jupyter lab` opens the "
                       "notebooks.",
            "mxnet": "**Setting up.** MXNet 1.9 needs a numpy older than 1.24, so it has an "
                     "environment of its own: `make mxnet-env` creates `.venv-mxnet`, "
                     "`.venv-mxnet/bin/python -m pip install -e '.[notebooks]'` adds Jupyter, and "
                     "`.venv-mxnet/bin/jupyter lab` opens this notebook with a kernel that can "
                     "import MXNet. In the commands below, `python` means "
                     "`.venv-mxnet/bin/python`.",
        },
        "quick_precision": {
            "default": "It computes in bfloat16 while keeping the weights in fp32 (mixed "
                       "precision), which recent CPUs run faster.",
            "jax": "It stays in fp32: on a CPU, XLA runs AlexNet's bfloat16 convolutions more "
                   "slowly than fp32 ones.",
            "mxnet": "It stays in fp32, the only precision this backend trains in (MXNet 1.9's "
                     "mixed precision would have to be switched on for the whole process before "
                     "any network is built).",
        },
        "model": {
            "pytorch": "Every size comes from the table, so no layer is lazy and the Xavier "
                       "initialization (`init_cnn`) really reaches every weight; the book's "
                       "version silently skips lazy layers.",
            "tensorflow": "As in the book's TensorFlow code, a ReLU row right after a convolution "
                          "or a dense layer becomes that layer's `activation`. The network is "
                          "built at once for 224×224 inputs, so its Xavier-initialized weights "
                          "exist before the first batch.",
            "jax": "A Flax module is a frozen dataclass: `AlexNet` keeps its hyperparameters as "
                   "fields and holds no weights at all. The `Trainer` creates the weights and "
                   "keeps them in its state, as we will see when we make predictions.",
            "mxnet": "As in the book's MXNet code, a ReLU row right after a convolution or a "
                     "dense layer becomes that layer's `activation`, and the flatten row "
                     "disappears because Gluon's `Dense` flattens its input. `hybridize()` "
                     "compiles the network into one cached graph.",
        },
        "layout": {
            "nchw": "{framework} keeps images channels-first (NCHW: batch, channels, height, "
                    "width), so the input shape is `(1, 1, 224, 224)`.",
            "nhwc": "{framework} keeps images channels-last (NHWC: batch, height, width, "
                    "channels), so the input shape is `(1, 224, 224, 1)`.",
        },
        "predict": {
            "pytorch": "`model.eval()` switches dropout off, and the images go to the device "
                       "the trainer trained on.",
            "tensorflow": "Calling the model with `training=False` switches dropout off.",
            "jax": "While it trains, the trainer keeps the weights in its functional state "
                   "(`trainer.state.params`); `fit` ends by handing them back to the model "
                   "(`model.params`). `model.predict(X)` applies the network with them, without "
                   "a dropout key, so in evaluation mode with dropout off, and returns the "
                   "class indices.",
            "mxnet": "Outside `autograd.record`, Gluon runs in prediction mode, so dropout is "
                     "off; the images are copied to the device the trainer trained on.",
        },
    },
    "id": {
        "book_style": {
            "pytorch": "satu `nn.Sequential` berisi lapisan-lapisan lazy (`nn.LazyConv2d`, "
                       "`nn.LazyLinear`), yang ukuran input-nya diisi PyTorch pada batch "
                       "pertama, dengan `nn.ReLU` dan `nn.Dropout` di antaranya",
            "tensorflow": "satu `tf.keras.models.Sequential`, dengan setiap ReLU diberikan "
                          "kepada lapisannya sebagai `activation='relu'`",
            "jax": "sebuah `nn.Module` Flax yang `setup`-nya membuat satu `nn.Sequential`, "
                   "dengan pooling dan perataan (flatten) ditulis sebagai fungsi-fungsi kecil",
            "mxnet": "satu `nn.Sequential` Gluon, dengan setiap ReLU diberikan kepada lapisannya "
                     "sebagai `activation='relu'`, dan tanpa flatten, karena `Dense` milik Gluon "
                     "meratakan input-nya sendiri",
        },
        "differences": {
            "pytorch": "Ada dua perbedaan. Buku memberi padding satu piksel pada konvolusi "
                       "pertama, sedangkan versi kita tidak: peta fiturnya tetap 54×54, tetapi "
                       "jendela-jendela di buku bergeser satu piksel ke luar. Selain itu, "
                       "`init_cnn` di buku dijalankan sebelum lapisan lazy-nya memiliki "
                       "parameter, sehingga tidak ada yang diinisialisasi dan inisialisasi "
                       "bawaan PyTorch-lah yang tetap dipakai; versi kita mengetahui setiap "
                       "ukuran dari tabel, sehingga inisialisasi Xavier sampai ke setiap "
                       "parameter (`BookAlexNet` di sini lebih dulu meneruskan satu batch, agar "
                       "yang Anda dapatkan adalah maksud buku).",
            "tensorflow": "Perbedaannya ada di sekitar jaringan. Buku tidak pernah memberikan "
                          "`training=` saat memanggil model, sehingga dropout-nya tidak pernah "
                          "aktif selama pelatihan; trainer kita memberikan `training=True` di "
                          "setiap langkah pelatihan dan `training=False` di tempat lain. Kode "
                          "TensorFlow di buku ditulis untuk Keras 2 dan gagal di Keras 3, yang "
                          "dibawa TensorFlow saat ini; versi kita (dan `BookAlexNet` di sini) "
                          "berjalan di Keras 3.",
            "jax": "Ada tiga perbedaan. Buku memberi padding satu piksel pada konvolusi pertama, "
                   "sedangkan versi kita tidak (peta fiturnya tetap 54×54, tetapi "
                   "jendela-jendela di buku bergeser satu piksel ke luar). Buku memakai "
                   "inisialisasi bawaan Flax (LeCun-normal); versi kita memakai inisialisasi "
                   "Xavier seperti di bab. Dan trainer JAX di buku tidak lagi berjalan di JAX "
                   "saat ini (ia memakai `jax.random.PRNGKeyArray`, yang sudah dihapus dari "
                   "JAX); trainer kita berjalan, dan mengembalikan parameter hasil pelatihan "
                   "kepada model.",
            "mxnet": "Buku membiarkan setiap ukuran input disimpulkan pada batch pertama, "
                     "sehingga parameternya baru ada setelah satu lintasan maju; versi kita "
                     "menyebutkan setiap ukuran, yang diambil dari tabel, sehingga jaringan "
                     "langsung diinisialisasi. Versi kita juga di-hybridize (`hybridize()`) "
                     "menjadi satu graf yang disimpan.",
        },
        "env": {
            "default": "**Persiapan.** {framework} terpasang di lingkungan utama proyek: "
                       "`make setup` membuat `.venv`, `.venv/bin/python -m pip install -e "
                       "'.[notebooks]'` menambahkan Jupyter, lalu `.venv/bin/jupyter lab` membuka "
                       "notebook-notebook ini.",
            "mxnet": "**Persiapan.** MXNet 1.9 membutuhkan numpy versi di bawah 1.24, sehingga "
                     "ia punya lingkungan sendiri: `make mxnet-env` membuat `.venv-mxnet`, "
                     "`.venv-mxnet/bin/python -m pip install -e '.[notebooks]'` menambahkan "
                     "Jupyter, dan `.venv-mxnet/bin/jupyter lab` membuka notebook ini dengan "
                     "kernel yang dapat mengimpor MXNet. Pada perintah-perintah di bawah, "
                     "`python` berarti `.venv-mxnet/bin/python`.",
        },
        "quick_precision": {
            "default": "Perhitungannya memakai bfloat16 sementara parameternya tetap fp32 (presisi "
                       "campuran), yang berjalan lebih cepat di CPU modern.",
            "jax": "Perhitungannya tetap fp32: di CPU, XLA menjalankan konvolusi bfloat16 "
                   "AlexNet lebih lambat daripada konvolusi fp32.",
            "mxnet": "Perhitungannya tetap fp32, satu-satunya presisi yang didukung backend ini "
                     "untuk pelatihan (presisi campuran MXNet 1.9 harus diaktifkan untuk seluruh "
                     "proses sebelum jaringan apa pun dibuat).",
        },
        "model": {
            "pytorch": "Setiap ukuran diambil dari tabel, sehingga tidak ada lapisan lazy dan "
                       "inisialisasi Xavier (`init_cnn`) sampai ke setiap parameter; "
                       "versi di buku diam-diam melewatkan lapisan lazy.",
            "tensorflow": "Seperti kode TensorFlow di buku, baris ReLU yang tepat mengikuti "
                          "konvolusi atau lapisan *fully connected* menjadi `activation` lapisan tersebut. "
                          "Jaringan langsung dibangun untuk input 224×224, sehingga parameternya, "
                          "yang diinisialisasi dengan Xavier, sudah ada sebelum batch pertama.",
            "jax": "Modul Flax adalah dataclass beku (frozen): `AlexNet` menyimpan "
                   "hiperparameternya sebagai field dan sama sekali tidak menyimpan parameter. "
                   "`Trainer`-lah yang membuat parameter dan menyimpannya di dalam state-nya, seperti "
                   "yang akan kita lihat saat membuat prediksi.",
            "mxnet": "Seperti kode MXNet di buku, baris ReLU yang tepat mengikuti konvolusi atau "
                     "lapisan *fully connected* menjadi `activation` lapisan tersebut, dan baris flatten "
                     "hilang karena `Dense` milik Gluon meratakan input-nya sendiri. "
                     "`hybridize()` mengompilasi jaringan menjadi satu graf yang disimpan "
                     "(di-cache).",
        },
        "layout": {
            "nchw": "{framework} menyimpan gambar dengan saluran di depan (NCHW: batch, saluran, "
                    "tinggi, lebar), sehingga bentuk input-nya `(1, 1, 224, 224)`.",
            "nhwc": "{framework} menyimpan gambar dengan saluran di belakang (NHWC: batch, tinggi, "
                    "lebar, saluran), sehingga bentuk input-nya `(1, 224, 224, 1)`.",
        },
        "predict": {
            "pytorch": "`model.eval()` mematikan dropout, dan gambar dikirim ke perangkat yang "
                       "dipakai trainer untuk melatih.",
            "tensorflow": "Memanggil model dengan `training=False` mematikan dropout.",
            "jax": "Selama pelatihan, trainer menyimpan parameter di state fungsionalnya "
                   "(`trainer.state.params`); `fit` diakhiri dengan menyerahkan parameter itu "
                   "kembali ke model (`model.params`). `model.predict(X)` menerapkan jaringan "
                   "dengan parameter tersebut tanpa kunci dropout, jadi dalam mode evaluasi dengan "
                   "dropout mati, dan mengembalikan indeks kelas.",
            "mxnet": "Di luar `autograd.record`, Gluon berjalan dalam mode prediksi sehingga "
                     "dropout mati; gambar disalin ke perangkat yang dipakai trainer untuk "
                     "melatih.",
        },
    },
}

PROSE = {
    "en": {
        "title": """# AlexNet: deep convolutional neural networks, with {framework}

This notebook follows the AlexNet chapter of *Dive into Deep Learning* (section `sec_alexnet`) and runs it with {framework}: why deep networks won only in 2012, the network the chapter builds, what it costs, and its training on Fashion-MNIST. The models, the data and the training loop come from the `d2l_alexnet` package; where the notebook shows code, it prints the package's own source, so the code you read is the code that trains.""",
        "run-modes": """The one setting of this notebook is `QUICK` in the next cell: `None` trains the chapter's full run when {framework} finds a GPU and a quick run when it does not, `True` always the quick run, `False` always the full one. Everything about the two runs, and how to set up the environment, comes later, where the training begins.""",
        "why-2012": """## Why 2012?

In the 1990s LeNet had shown that a convolutional network could read handwritten digits, yet the approach did not take over computer vision at once. For roughly fifteen years the best systems were built as a pipeline: collect a dataset, turn each image into hand-designed features (SIFT, SURF, HOG, bags of visual words), and give those features to a linear model or a kernel method such as an SVM. Only the last step learned anything; progress in the field mostly meant inventing better features. On the benchmarks of the day, neural networks were often beaten by kernel methods, ensembles and structured estimation.

A small group of researchers, among them Yann LeCun, Geoffrey Hinton, Yoshua Bengio, Andrew Ng, Shun-ichi Amari and Jürgen Schmidhuber, kept arguing the opposite: the features themselves should be learned, layer upon layer. The lowest layers of a deep network end up detecting edges, colours and textures (AlexNet's first-layer filters do look much like the hand-made ones); the layers above combine those into parts of objects; and the last hidden layer yields a compact representation in which the classes are easy to tell apart.

The ideas existed long before 2012. Two ingredients were missing.""",
        "data-story": """### The first missing ingredient: data

A deep network has many parameters, and it needs many labelled examples to fit them. Datasets of the 1990s and 2000s were small, often a few hundred to a few thousand examples in the style of the UCI repository, and images were expensive to make: in 1994 a consumer digital camera, Apple's QuickTake 100, stored eight pictures of 0.3 megapixels and cost about a thousand US dollars. ImageNet, released in 2009, changed the scale: a million images of about 224×224 pixels, a thousand for each of 1,000 categories named after WordNet nouns, gathered with image search engines and checked by workers on Amazon Mechanical Turk. Its yearly competition, ILSVRC, became the benchmark on which AlexNet made its name. For comparison, CIFAR-100 has 60,000 images and TinyImages 80 million small 32×32 ones; today's datasets, such as LAION-5B, hold billions of images.""",
        "hardware-story": """### The second missing ingredient: hardware

Training repeats the same simple arithmetic, mostly matrix products and convolutions, an enormous number of times, and that is precisely the work graphics processors are built for. A CPU core is big and clever (branch prediction, deep pipelines, large caches), runs at a high clock rate and is expensive to replicate. A GPU instead packs thousands of small, simple cores (an NVIDIA Ampere chip has 6,912 CUDA cores, scheduled in groups called warps), each running at about 1 GHz, which together get through far more regular work. Power explains the trade: it grows roughly with the square of the clock rate, so the energy of one CPU core running four times faster would feed 16 GPU cores at a quarter of the speed, which do four times the work. GPU memory buses are also at least ten times wider. The gap today is vast: the GeForce 256 of 1999 reached at most 480 MFLOPs, an NVIDIA A100 exceeds 300 TFLOPs on bfloat16 matrix products (about 20 TFLOPs in plain fp32), and the newest accelerators pass 1,000 TFLOPs, while CPUs rarely exceed 1 TFLOPs (AWS's Graviton 3 reaches 2 TFLOPs in fp16, about as much as the GPU of Apple's M1).

In 2012 Alex Krizhevsky and Ilya Sutskever wrote fast convolutions for GPUs (the cuda-convnet library) and trained their network on two NVIDIA GTX 580 cards, each with 3 GB of memory and about 1.5 TFLOPs. With Geoffrey Hinton they won ILSVRC 2012 by a wide margin.""",
        "architecture": """## AlexNet next to LeNet

AlexNet keeps LeNet's overall plan, convolutions and pooling first and dense layers at the end, and changes almost everything else:

- **Deeper and wider.** Eight layers with weights (five convolutional layers, two hidden dense layers and a dense output layer) instead of five, and about ten times as many channels.
- **Big windows first.** ImageNet images are about eight times taller and wider than MNIST digits, so the first convolution looks at 11×11 pixels at a time, with stride 4; later windows shrink to 5×5 and then 3×3. Max-pooling over 3×3 windows with stride 2 follows the first, the second and the fifth convolution.
- **ReLU instead of sigmoid.** ReLU needs no exponential, and its gradient is exactly 1 for every positive input, whereas a sigmoid's gradient almost vanishes once its output nears 0 or 1. Training therefore depends much less on a lucky initialization.
- **Capacity control.** The two dense layers with 4,096 outputs hold most of the parameters (in the original they needed almost 1 GB of GPU memory, one reason the network was split across two GPUs). AlexNet regularizes them with dropout, where LeNet relied on weight decay alone, and multiplies its training data by augmentation: flipped, cropped and recoloured copies of every image. (Albumentations, by Buslaev et al., 2020, is a modern library for such preprocessing.)

As in the book, the network here is the single-GPU simplification: one stream of layers, no split. The table below is computed when the cell runs, from the same layer description (`d2l_alexnet.core.architecture.ALEXNET`) that the {framework} model is built from; LeNet's column comes from `d2l_alexnet.core.notebook.LENET`. Shapes are channels × height × width for one image. Both networks take one grey channel here, and the output layer has 10 classes (the original AlexNet took 3 colour channels and had 1,000 classes).""",
        "model-code": """## The model in code, as this package builds it

`build_network` turns the shared layer table into {framework} layers, row by row; `AlexNet` is a `Classifier` (cross-entropy loss, accuracy, plain SGD) that builds this network. Its default learning rate is the book's 0.1; we will train with 0.01. {model}""",
        "layer-summary": """## Layer by layer

`layer_summary` sends one random single-channel 224×224 image through the network and prints the shape that comes out of every layer. {layout} Watch the image shrink: 54×54 after the first convolution, 26×26 and 12×12 after the first two poolings, and 5×5 before the dense layers, where 256 channels of 5×5 become a vector of 6,400 numbers.""",
        "cost-intro": """## What it costs (exercise 1)

The chapter's first exercise asks where AlexNet spends its memory and its arithmetic. The package answers from the layer table: for every layer, the number of parameters and the memory they take in fp32 (4 bytes each), the forward-pass FLOPs for one image (a multiply-add counts as 2), and the memory of the layer's output. The same report is available on the command line: `python -m d2l_alexnet.cost` (try `--batch-size 128` or `--json`).""",
        "cost-reading": """Read the closing lines. The dense layers hold about 92% of the parameters but do less than 5% of the arithmetic; the convolutions do the reverse. A network's memory and its compute can sit in very different places, which will matter again in the discussion.""",
        "data-intro": """## The data: Fashion-MNIST at 224×224

Training on ImageNet would take hours or days, so, like the book, we train on Fashion-MNIST: 70,000 greyscale 28×28 pictures of ten kinds of clothing and shoes (60,000 for training, 10,000 for validation). To keep the architecture exactly as designed, every image is enlarged to 224×224 (`resize=(224, 224)`, bilinear). That is not a clever thing to do in general, since the network processes 64 times as many pixels and gains no information, but it lets the 11×11 windows and the 4,096-wide layers work as intended.

The package finds the data by itself: a local copy first, then a download, and when offline a small subset shipped inside the package (it prints a line when it falls back to the subset). Below is a batch from the validation set with the names of the classes.""",
        "training": """## Training

We train with minibatch SGD and a learning rate of 0.01 (0.03 in the quick run, whose images are smaller and whose run is shorter), lower than LeNet's. At 224×224 every training step costs about 5.6 GFLOPs per image (the backward pass costs roughly twice the forward one), which is why this is much slower than training LeNet. The `ProgressBoard` below is redrawn while training runs: the training loss twice per epoch, the validation loss and accuracy after each epoch. The trainer also prints a progress line with images per second and the time left, and a line per epoch. `num_gpus=1` asks for a GPU, as in the book, and uses the CPU when there is none.

What to expect. In the quick run the loss starts at 2.30 (ln 10, the loss of a uniform guess among ten classes) and falls within the first epoch; validation accuracy ends near {quick_result} (measured on two CPU cores, with the same seed as below, in every backend between 0.64 and 0.71). The chapter's full run, measured here on the same two cores in bf16, reached {full_result}; the book prints about 0.88 for every framework.""",
        "predictions": """## Predictions

Now the trained network labels a batch of validation images. Above each image, the first line is the true class and the second is the network's guess. {predict}""",
        "discussion": """## Discussion

Dropout is what lets AlexNet generalize, and ReLU is what makes it easy to train. Tooling mattered as much: in 2012 neither DistBelief nor Caffe existed yet, and Theano, which did, offered little that set it apart, so Krizhevsky and Sutskever wrote their own GPU code, months of work. Only later, with the arrival of TensorFlow above all, did a network like this become a few lines in any framework, and that is a large part of why deep learning spread so quickly.

AlexNet is also wasteful. Its two hidden fully connected layers take 6,400×4,096 and 4,096×4,096 weight matrices: about 43 million parameters, 164 MiB in fp32 that must be read from memory for every batch, in return for comparatively little arithmetic. The next cell computes both figures from the cost report. It prints 86 MFLOPs per image where the chapter says 81: the 42,991,616 weights are 43.0 million multiply-adds, and the cost report counts each as two floating-point operations (a multiply and an add), as it does for every layer; the chapter's 81 matches neither that count nor the count in binary millions (82.0). That imbalance between memory and arithmetic is one reason later architectures dropped such huge dense layers.

Those tens of millions of parameters far outnumber the 60,000 training images, yet in the full run the training and validation losses stay close together (in the PyTorch run in `results/`, 0.327 and 0.328 after ten epochs): dropout keeps the network from simply memorizing its training set. (The quick run is too short to show this.)""",
        "exercises": """## Exercises

1. Analyse what it costs to run AlexNet. (a) How much memory do the convolutional layers need, and how much the fully connected layers; which dominates? (b) The same question for the computation. (c) How do memory bandwidth, latency and memory size affect the computation? Do training and inference differ? *The cost report above answers (a) and (b); it is also `python -m d2l_alexnet.cost`, and `--batch-size 128` shows how the activation memory grows with the batch. A sketch for (c): the fully connected layers do about 2 FLOPs per weight they read, so at batch 1 they wait on memory bandwidth, not on arithmetic; a batch reuses each weight for every image and shifts the balance to the convolutions. Inference needs only the weights and one layer's activations at a time; training keeps every layer's activations for the backward pass, plus the gradients and the optimizer's state, so it needs several times the memory, and latency matters for inference of single images, throughput for training.*
2. You are designing a chip. How would you trade arithmetic units against memory bandwidth? Think about power, chip area and the number of pins. *A sketch: arithmetic is cheap in area and energy next to moving data off the chip, and pins (and so off-chip bandwidth) grow far more slowly than transistors; so keep data on the chip (large caches and register files), and design for work that reuses each number many times, such as convolutions and batched matrix products. Low-precision units (bf16, int8) give more operations per watt and per pin.*
3. Why do hardware and software engineers no longer report benchmarks on AlexNet? *A sketch: it is too small and too unlike today's workloads to say much. A modern accelerator runs it in a fraction of a millisecond per image, its cost is dominated by two fully connected layers that newer networks no longer have, and the workloads people buy hardware for (ResNets, transformers, language models) stress other parts of a chip.*
4. Train for more epochs. How does AlexNet behave compared with LeNet, and why? *Set `QUICK = False` and raise `max_epochs` in the settings cell, or run `python -m d2l_alexnet.train --backend {backend} --epochs 30`. For LeNet on the same data, `d2l.AlexNet(layers=LENET, resize=28, lr=1.5)` (with `from d2l_alexnet.core.notebook import LENET`) trains the book's LeNet-5 with the same trainer; sigmoid LeNet needs that large a step, and at the book's 0.1 its loss stays at 2.30 for two epochs (`results/slim-28/README.md`).*
5. AlexNet is probably more than Fashion-MNIST needs. (a) Simplify it so that it trains faster without a significant loss of accuracy. (b) Design a better network that works directly on 28×28 images. *A network is a table of rows (`d2l_alexnet/core/architecture.py`): `layer_table(resize, layers=rows)` gives the shapes and parameter counts of a variant before you train it, and `d2l.AlexNet(layers=rows, resize=28)` builds and trains it at its own size. For (b), try three stages of 3×3 convolutions (32, 64, 128 channels) with ReLU and max pooling on the 28×28 images, then a small fully connected head with dropout, and compare the parameters and forward FLOPs that `layer_table(28, layers=rows)` lists for each row with AlexNet's. One answer, measured: `SLIM_28` in `d2l_alexnet.core.exercises` is that network; trained with `d2l.AlexNet(layers=SLIM_28, resize=28, lr=0.5)` for 10 epochs on this project's 2-core CPU, it reached 0.9110 validation accuracy (AlexNet's full run: 0.8824) with 390,410 parameters instead of 46.8 million and 15.5 instead of 1,876 forward MFLOPs per image, at 24 s per epoch (`results/slim-28/`, `benchmarks/exercise_models.py`).*
6. Change the batch size. How do throughput (images per second), accuracy and GPU memory change? *`python -m d2l_alexnet.bench --backend {backend} --batch-sizes 16 32 64 128 256` measures throughput and peak memory for each size in a fresh process and plots them; for accuracy, train again with `--batch-size`.*
7. Add dropout and ReLU to LeNet-5. Does it improve? Can you improve it further with preprocessing that exploits the invariances of images, such as small shifts and flips? *LeNet-5 is `LENET` in `d2l_alexnet.core.notebook`, with the book's sigmoid and average-pooling rows; replace each `Layer("sigmoid")` with `Layer("relu")` and add `Layer("dropout", rate=0.5)` after the activation of each hidden fully connected layer (`Layer` is in `d2l_alexnet.core.architecture`). Train both with `d2l.AlexNet(layers=rows, resize=28)`, LeNet at `lr=1.5` and the new rows at `lr=0.5` (the best of a sweep for each), and compare; `LENET_RELU_DROPOUT` in `d2l_alexnet.core.exercises` holds the edited rows, and in `results/slim-28/` it reached 0.8687 against LeNet's 0.8606, ahead with each of three seeds. For shifts and flips, change the training batches before they reach the model, for example in a data module of your own (see `notebooks/alexnet-in-another-lesson.ipynb`).*
8. Can you make AlexNet overfit? Which feature would you need to remove or change to break its training? *Try a small training set with many epochs, for example `python -m d2l_alexnet.train --backend {backend} --limit-train 1000 --epochs 20`, and switch the regularization off with `d2l.AlexNet(dropout=0)`. To break training, try sigmoid instead of ReLU in the table, or a learning rate of 1 (`--lr 1`).*""",
        "book-code": """## The book's AlexNet in {framework}

This is the chapter's network as the book writes it for {framework}: {book_style}. The package keeps it, as the book has it, in `d2l.BookAlexNet`, and prints its source here.""",
        "differences": """## What ours does differently, and why

The `AlexNet` that trains below computes the same network, but is built from the layer table that also gave the comparison above and gives the cost report below, so its shapes, its parameter count and its costs cannot disagree. The project's tests check, in every backend, that `BookAlexNet` and our `AlexNet` print the same layer summary, have the same number of parameters and, after loading one weights file, give the same outputs. {differences}""",
        "setup": """## How much to train, and on what

Training AlexNet the way the chapter does (ten passes over 60,000 images enlarged to 224×224) takes minutes on a GPU and hours on a CPU, so the notebook has two runs, chosen by `QUICK` in the first code cell (the cell is tagged `parameters`, so tools such as papermill can set it):

- **The quick run** trains three epochs over the first 4,096 training images, enlarged to 112×112 rather than 224×224 (a quarter of the pixels), with batch size 32 and learning rate 0.03, and checks on 1,024 validation images. On two CPU cores it takes a few minutes, and AlexNet visibly learns: the loss starts at 2.30 and bends down within the first epoch. {quick_precision}
- **The full run** is the chapter's: 10 epochs, batch size 128, learning rate 0.01, 224×224 inputs, all the data.

The environment variable `D2L_ALEXNET_QUICK` overrides the cell: `1` the quick run, `0` the full run, and `smoke`, which the project's tests use, a single short epoch that only shows that every cell works.

{env}""",
        "glossary": """## Glossary

The Indonesian edition of this notebook (`notebooks/id/`) uses the terms of the Indonesian edition of the book's AlexNet chapter. They are:

{glossary}

Kept in English, as the chapter keeps them: dropout, ReLU, sigmoid, stride, padding, kernel, pooling, epoch, dataset, overfitting, GPU, bandwidth.""",
    },
    "id": {
        "title": """# AlexNet: jaringan neural konvolusional dalam, dengan {framework}

Notebook ini mengikuti bab AlexNet dari buku *Dive into Deep Learning* (bagian `sec_alexnet`) dan menjalankannya dengan {framework}: mengapa jaringan dalam baru menang pada tahun 2012, jaringan yang dibangun di bab ini, berapa biayanya, dan pelatihannya pada Fashion-MNIST. Model, data, dan loop pelatihan berasal dari paket `d2l_alexnet`; ketika notebook menampilkan kode, yang dicetak adalah kode sumber paket itu sendiri, jadi kode yang Anda baca adalah kode yang benar-benar dilatih.""",
        "run-modes": """Satu-satunya pengaturan notebook ini adalah `QUICK` di sel berikut: `None` menjalankan pelatihan penuh seperti di bab jika {framework} menemukan GPU dan pelatihan cepat jika tidak, `True` selalu pelatihan cepat, `False` selalu pelatihan penuh. Penjelasan tentang kedua pelatihan itu, dan cara menyiapkan lingkungannya, ada di bagian selanjutnya, tepat sebelum pelatihan dimulai.""",
        "why-2012": """## Mengapa baru tahun 2012?

Pada tahun 1990-an LeNet sudah membuktikan bahwa jaringan konvolusional mampu membaca angka tulisan tangan, tetapi pendekatan ini tidak langsung menguasai bidang visi komputer. Selama kira-kira lima belas tahun berikutnya, sistem terbaik umumnya dibangun sebagai sebuah alur kerja (pipeline): kumpulkan dataset, ubah setiap gambar menjadi fitur yang dirancang secara manual (SIFT, SURF, HOG, bag of visual words), lalu berikan fitur itu kepada model linear atau metode kernel seperti SVM. Hanya langkah terakhir itulah yang belajar; kemajuan di bidang ini sebagian besar berarti menemukan fitur yang lebih baik. Pada tolok ukur masa itu, jaringan neural sering dikalahkan oleh metode kernel, metode ensemble, dan estimasi terstruktur.

Sekelompok kecil peneliti, di antaranya Yann LeCun, Geoffrey Hinton, Yoshua Bengio, Andrew Ng, Shun-ichi Amari, dan Jürgen Schmidhuber, terus berpendapat sebaliknya: fitur itu sendiri sebaiknya dipelajari, lapis demi lapis. Lapisan terbawah sebuah jaringan dalam pada akhirnya mendeteksi tepi, warna, dan tekstur (filter lapisan pertama AlexNet memang sangat mirip dengan filter yang dulu dirancang manual); lapisan di atasnya menggabungkan pola-pola itu menjadi bagian-bagian objek; dan lapisan tersembunyi terakhir menghasilkan representasi ringkas yang membuat kelas-kelas mudah dibedakan.

Gagasan-gagasan ini sudah ada jauh sebelum 2012. Yang belum tersedia adalah dua bahan berikut.""",
        "data-story": """### Bahan pertama yang belum ada: data

Jaringan dalam memiliki banyak parameter, dan untuk mencocokkannya dibutuhkan banyak contoh berlabel. Dataset pada tahun 1990-an dan 2000-an berukuran kecil, sering hanya ratusan hingga beberapa ribu contoh seperti dataset di repositori UCI, dan gambar mahal untuk dibuat: pada tahun 1994 kamera digital konsumen Apple QuickTake 100 hanya dapat menyimpan delapan foto beresolusi 0,3 megapiksel, dengan harga sekitar seribu dolar AS. ImageNet, yang dirilis pada tahun 2009, mengubah skala itu: satu juta gambar berukuran sekitar 224×224 piksel, seribu gambar untuk masing-masing dari 1.000 kategori yang dinamai menurut kata benda di WordNet, dikumpulkan lewat mesin pencari gambar dan diperiksa oleh para pekerja Amazon Mechanical Turk. Kompetisi tahunannya, ILSVRC, menjadi tolok ukur yang membuat AlexNet terkenal. Sebagai perbandingan, CIFAR-100 berisi 60.000 gambar dan TinyImages 80 juta gambar kecil berukuran 32×32; dataset masa kini seperti LAION-5B mencapai miliaran gambar.""",
        "hardware-story": """### Bahan kedua yang belum ada: perangkat keras

Pelatihan mengulang aritmetika sederhana yang sama, sebagian besar perkalian matriks dan konvolusi, dalam jumlah yang luar biasa banyak, dan justru untuk pekerjaan semacam itulah prosesor grafis (GPU) dibuat. Satu inti CPU berukuran besar dan cerdas (prediksi percabangan, pipeline yang dalam, cache yang besar), berjalan pada frekuensi tinggi, dan mahal untuk diperbanyak. Sebaliknya, GPU memuat ribuan inti kecil yang sederhana (sebuah chip NVIDIA Ampere memiliki 6.912 inti CUDA yang dijadwalkan dalam kelompok bernama warp); masing-masing hanya berjalan sekitar 1 GHz, tetapi bersama-sama menyelesaikan jauh lebih banyak pekerjaan yang teratur. Alasannya adalah daya listrik: daya naik kira-kira sebanding dengan kuadrat frekuensi, sehingga energi untuk satu inti CPU yang empat kali lebih cepat cukup untuk menghidupkan 16 inti GPU berkecepatan seperempatnya, yang bersama-sama mengerjakan empat kali lipat pekerjaan. Bus memori GPU juga setidaknya sepuluh kali lebih lebar. Kini selisihnya sangat besar: GeForce 256 tahun 1999 paling banyak mencapai 480 MFLOPs, NVIDIA A100 melampaui 300 TFLOPs untuk perkalian matriks bfloat16 (sekitar 20 TFLOPs dalam fp32 biasa), dan akselerator terbaru melewati 1.000 TFLOPs, sedangkan CPU jarang melampaui 1 TFLOPs (Graviton 3 dari AWS mencapai 2 TFLOPs dalam fp16, kira-kira setara dengan GPU pada Apple M1).

Pada tahun 2012 Alex Krizhevsky dan Ilya Sutskever menulis implementasi konvolusi yang cepat untuk GPU (pustaka cuda-convnet) dan melatih jaringan mereka pada dua kartu NVIDIA GTX 580, masing-masing dengan memori 3 GB dan kemampuan sekitar 1,5 TFLOPs. Bersama Geoffrey Hinton, mereka memenangi ILSVRC 2012 dengan selisih yang jauh.""",
        "architecture": """## AlexNet berdampingan dengan LeNet

AlexNet mempertahankan rancangan umum LeNet, yaitu konvolusi dan pooling lebih dulu lalu lapisan *fully connected* di bagian akhir, tetapi mengubah hampir semua hal lainnya:

- **Lebih dalam dan lebih lebar.** Delapan lapisan yang memiliki parameter (lima lapisan konvolusi, dua lapisan *fully connected* tersembunyi, dan satu lapisan output *fully connected*) alih-alih lima, dan kira-kira sepuluh kali lebih banyak saluran.
- **Jendela besar di awal.** Gambar ImageNet kira-kira delapan kali lebih tinggi dan lebih lebar daripada gambar angka MNIST, sehingga konvolusi pertama melihat 11×11 piksel sekaligus dengan langkah (stride) 4; jendela berikutnya mengecil menjadi 5×5, lalu 3×3. Max-pooling dengan jendela 3×3 dan stride 2 mengikuti konvolusi pertama, kedua, dan kelima.
- **ReLU, bukan sigmoid.** ReLU tidak memerlukan fungsi eksponensial, dan gradiennya tepat 1 untuk setiap input positif, sedangkan gradien sigmoid hampir lenyap ketika output-nya mendekati 0 atau 1. Karena itu, pelatihan berhasil dengan berbagai inisialisasi, bukan hanya dengan inisialisasi yang kebetulan baik.
- **Pengendalian kapasitas.** Dua lapisan *fully connected* dengan 4.096 output menyimpan sebagian besar parameter (pada versi aslinya keduanya membutuhkan hampir 1 GB memori GPU, salah satu alasan jaringan itu dibagi ke dua GPU). AlexNet meregularisasi keduanya dengan dropout, sementara LeNet hanya mengandalkan *weight decay*, dan memperbanyak data latihnya dengan augmentasi: salinan setiap gambar yang dicerminkan, dipotong, dan diubah warnanya. (Albumentations, karya Buslaev dkk., 2020, adalah pustaka modern untuk prapemrosesan semacam ini.)

Seperti di buku, jaringan di sini adalah versi sederhana untuk satu GPU: satu aliran lapisan, tanpa pembagian. Tabel di bawah dihitung ketika selnya dijalankan, dari deskripsi lapisan yang sama (`d2l_alexnet.core.architecture.ALEXNET`) yang dipakai untuk membangun model {framework}; kolom LeNet berasal dari `d2l_alexnet.core.notebook.LENET`. Bentuk (shape) ditulis sebagai saluran × tinggi × lebar untuk satu gambar. Di sini kedua jaringan menerima satu saluran abu-abu, dan lapisan output-nya memiliki 10 kelas (AlexNet asli menerima 3 saluran warna dan memiliki 1.000 kelas).""",
        "model-code": """## Model dalam kode, sebagaimana paket ini membangunnya

`build_network` mengubah tabel lapisan bersama menjadi lapisan-lapisan {framework}, baris demi baris; `AlexNet` adalah sebuah `Classifier` (loss entropi silang, akurasi, SGD biasa) yang membangun jaringan ini. Laju pembelajaran bawaannya 0,1 seperti di buku; kita akan melatih dengan 0,01. {model}""",
        "layer-summary": """## Lapis demi lapis

`layer_summary` mengirimkan satu gambar acak dengan satu saluran berukuran 224×224 melalui jaringan dan mencetak bentuk output setiap lapisan. {layout} Perhatikan bagaimana gambar menyusut: 54×54 setelah konvolusi pertama, 26×26 dan 12×12 setelah dua pooling pertama, dan 5×5 sebelum lapisan *fully connected*, tempat 256 saluran berukuran 5×5 menjadi sebuah vektor berisi 6.400 angka.""",
        "cost-intro": """## Berapa biayanya (latihan 1)

Latihan pertama dalam bab ini menanyakan ke mana AlexNet menghabiskan memori dan aritmetikanya. Paket ini menjawabnya dari tabel lapisan: untuk setiap lapisan, jumlah parameter dan memori yang dipakainya dalam fp32 (4 byte per angka), jumlah FLOP lintasan maju (forward pass) untuk satu gambar (satu perkalian-tambah dihitung 2), serta memori output lapisan itu. Laporan yang sama tersedia di baris perintah: `python -m d2l_alexnet.cost` (coba `--batch-size 128` atau `--json`).""",
        "cost-reading": """Perhatikan baris-baris penutupnya. Lapisan *fully connected* menyimpan sekitar 92% parameter tetapi mengerjakan kurang dari 5% aritmetika; konvolusi justru sebaliknya. Memori dan komputasi sebuah jaringan bisa berada di tempat yang sangat berbeda, dan hal ini akan muncul lagi di bagian diskusi.""",
        "data-intro": """## Data: Fashion-MNIST pada 224×224

Melatih dengan ImageNet akan memakan waktu berjam-jam hingga berhari-hari, jadi, seperti di buku, kita melatih dengan Fashion-MNIST: 70.000 gambar abu-abu berukuran 28×28 yang memuat sepuluh jenis pakaian dan sepatu (60.000 untuk pelatihan, 10.000 untuk validasi). Agar arsitekturnya tetap persis seperti rancangannya, setiap gambar diperbesar menjadi 224×224 (`resize=(224, 224)`, bilinear). Secara umum ini bukan langkah yang cerdas, karena jaringan harus mengolah 64 kali lebih banyak piksel tanpa mendapat informasi baru, tetapi dengan begitu jendela 11×11 dan lapisan selebar 4.096 dapat bekerja sebagaimana mestinya.

Paket ini mencari datanya sendiri: salinan lokal lebih dulu, lalu unduhan, dan ketika luring (offline) sebuah subset kecil yang disertakan di dalam paket (paket mencetak satu baris pemberitahuan jika memakai subset itu). Di bawah ini satu batch dari data validasi beserta nama kelasnya.""",
        "training": """## Pelatihan

Kita melatih dengan SGD minibatch dan laju pembelajaran 0,01 (0,03 pada pelatihan cepat, yang gambarnya lebih kecil dan waktunya lebih singkat), lebih kecil daripada untuk LeNet. Pada 224×224, setiap langkah pelatihan membutuhkan sekitar 5,6 GFLOP per gambar (lintasan mundur kira-kira dua kali lebih mahal daripada lintasan maju), itulah sebabnya pelatihan ini jauh lebih lambat daripada melatih LeNet. `ProgressBoard` di bawah digambar ulang selama pelatihan berjalan: loss pelatihan dua kali per epoch, serta loss dan akurasi validasi di akhir setiap epoch. Trainer juga mencetak baris kemajuan berisi jumlah gambar per detik dan sisa waktu, serta satu baris untuk setiap epoch. `num_gpus=1` meminta GPU seperti di buku, dan memakai CPU jika GPU tidak tersedia.

Apa yang dapat diharapkan. Pada pelatihan cepat, loss dimulai dari 2,30 (yaitu ln 10, loss tebakan seragam di antara sepuluh kelas) dan sudah turun dalam epoch pertama; akurasi validasi berakhir di sekitar {quick_result} (diukur di dua inti CPU, dengan seed yang sama seperti di bawah; di semua backend antara 0,64 dan 0,71). Pelatihan penuh seperti di bab, yang diukur di sini pada dua inti yang sama dalam bf16, mencapai {full_result}; buku mencetak sekitar 0,88 untuk setiap framework.""",
        "predictions": """## Prediksi

Sekarang jaringan yang telah dilatih memberi label pada satu batch gambar validasi. Di atas setiap gambar, baris pertama adalah kelas yang sebenarnya dan baris kedua adalah tebakan jaringan. {predict}""",
        "discussion": """## Diskusi

Dropout-lah yang membuat AlexNet mampu melakukan generalisasi, dan ReLU-lah yang membuatnya mudah dilatih. Perangkat lunak pun sama pentingnya: pada tahun 2012 DistBelief maupun Caffe belum ada, dan Theano, yang sudah ada, hanya menawarkan sedikit keunggulan, sehingga Krizhevsky dan Sutskever menulis sendiri kode GPU mereka, pekerjaan berbulan-bulan. Baru kemudian, terutama setelah TensorFlow hadir, jaringan seperti ini cukup ditulis dalam beberapa baris di framework mana pun, dan hal itu merupakan bagian besar dari alasan pembelajaran mendalam menyebar begitu cepat.

Namun AlexNet juga boros. Dua lapisan *fully connected* tersembunyinya memakai matriks berukuran 6.400×4.096 dan 4.096×4.096: sekitar 43 juta parameter, 164 MiB dalam fp32 yang harus dibaca dari memori untuk setiap batch, sebagai imbalan atas aritmetika yang relatif sedikit. Sel berikut menghitung kedua angka itu dari laporan biaya. Sel itu mencetak 86 MFLOP per gambar, sedangkan bab ini menyebut 81: 42.991.616 parameter itu berarti 43,0 juta perkalian-tambah, dan laporan biaya menghitung masing-masing sebagai dua operasi titik mengambang (satu perkalian dan satu penjumlahan), sama seperti untuk setiap lapisan lain; angka 81 di bab ini tidak cocok dengan hitungan itu maupun dengan hitungan dalam juta biner (82,0). Ketidakseimbangan antara memori dan aritmetika inilah salah satu alasan arsitektur-arsitektur sesudahnya meninggalkan lapisan *fully connected* yang sebesar itu.

Puluhan juta parameter itu jauh melampaui jumlah gambar latih yang hanya 60.000, tetapi pada pelatihan penuh loss pelatihan dan loss validasi tetap berdekatan (pada pelatihan PyTorch di `results/`, 0,327 dan 0,328 setelah sepuluh epoch): dropout mencegah jaringan sekadar menghafal data latihnya. (Pelatihan cepat terlalu singkat untuk memperlihatkan hal ini.)""",
        "exercises": """## Latihan

1. Analisislah biaya menjalankan AlexNet. (a) Berapa banyak memori yang dibutuhkan lapisan konvolusi, dan berapa banyak yang dibutuhkan lapisan *fully connected*; mana yang mendominasi? (b) Pertanyaan yang sama untuk komputasinya. (c) Bagaimana bandwidth memori, latensi, dan ukuran memori memengaruhi komputasi? Apakah pelatihan dan inferensi berbeda dalam hal ini? *Laporan biaya di atas menjawab (a) dan (b); laporan itu juga tersedia sebagai `python -m d2l_alexnet.cost`, dan `--batch-size 128` memperlihatkan bagaimana memori aktivasi bertambah seiring ukuran batch. Sketsa jawaban untuk (c): lapisan fully connected hanya mengerjakan sekitar 2 FLOP untuk setiap parameter yang dibacanya, sehingga pada batch berukuran 1 lapisan itu menunggu bandwidth memori, bukan aritmetika; sebuah batch memakai ulang setiap parameter untuk semua gambarnya dan menggeser keseimbangan ke konvolusi. Inferensi hanya membutuhkan parameter dan aktivasi satu lapisan pada satu waktu; pelatihan menyimpan aktivasi setiap lapisan untuk lintasan mundur, ditambah gradien dan state optimizer, sehingga membutuhkan memori beberapa kali lipat. Untuk inferensi satu gambar yang penting adalah latensi, untuk pelatihan throughput.*
2. Anda sedang merancang sebuah chip. Bagaimana Anda menyeimbangkan unit aritmetika dengan bandwidth memori? Pertimbangkan daya listrik, luas chip, dan jumlah pin. *Sketsa jawaban: aritmetika murah dalam luas chip dan energi dibandingkan memindahkan data ke luar chip, dan jumlah pin (berarti bandwidth ke luar chip) bertambah jauh lebih lambat daripada jumlah transistor; karena itu simpanlah data di dalam chip (cache dan register yang besar), dan rancanglah untuk pekerjaan yang memakai ulang setiap angka berkali-kali, seperti konvolusi dan perkalian matriks dalam batch. Unit berpresisi rendah (bf16, int8) memberi lebih banyak operasi per watt dan per pin.*
3. Mengapa para insinyur perangkat keras dan perangkat lunak tidak lagi melaporkan tolok ukur pada AlexNet? *Sketsa jawaban: jaringan ini terlalu kecil dan terlalu berbeda dari beban kerja masa kini untuk banyak berbicara. Akselerator modern menjalankannya dalam sepersekian milidetik per gambar, biayanya didominasi dua lapisan fully connected yang tidak lagi dimiliki jaringan-jaringan baru, dan beban kerja yang menjadi alasan orang membeli perangkat keras (ResNet, transformer, model bahasa) membebani bagian chip yang lain.*
4. Latihlah dengan lebih banyak epoch. Bagaimana perilaku AlexNet dibandingkan LeNet, dan mengapa? *Setel `QUICK = False` dan naikkan `max_epochs` di sel pengaturan, atau jalankan `python -m d2l_alexnet.train --backend {backend} --epochs 30`. Untuk LeNet pada data yang sama, `d2l.AlexNet(layers=LENET, resize=28, lr=1.5)` (dengan `from d2l_alexnet.core.notebook import LENET`) melatih LeNet-5 dari buku dengan trainer yang sama; LeNet dengan sigmoid membutuhkan langkah sebesar itu, dan dengan 0,1 seperti di buku loss-nya bertahan di 2,30 selama dua epoch (`results/slim-28/README.md`).*
5. AlexNet kemungkinan lebih besar daripada yang dibutuhkan Fashion-MNIST. (a) Sederhanakan jaringannya agar pelatihan lebih cepat tanpa penurunan akurasi yang berarti. (b) Rancanglah jaringan yang lebih baik yang bekerja langsung pada gambar 28×28. *Sebuah jaringan adalah tabel baris-baris (`d2l_alexnet/core/architecture.py`): `layer_table(resize, layers=rows)` memberikan bentuk dan jumlah parameter sebuah varian sebelum Anda melatihnya, dan `d2l.AlexNet(layers=rows, resize=28)` membangun dan melatihnya pada ukurannya sendiri. Untuk (b), cobalah tiga tahap konvolusi 3×3 (32, 64, 128 saluran) dengan ReLU dan max pooling pada gambar 28×28, lalu bagian fully connected kecil dengan dropout, dan bandingkan parameter dan FLOP lintasan maju yang dicantumkan `layer_table(28, layers=rows)` untuk setiap baris dengan milik AlexNet. Satu jawaban yang sudah diukur: `SLIM_28` di `d2l_alexnet.core.exercises` adalah jaringan itu; dilatih dengan `d2l.AlexNet(layers=SLIM_28, resize=28, lr=0.5)` selama 10 epoch di CPU dua inti proyek ini, jaringan itu mencapai akurasi validasi 0,9110 (pelatihan penuh AlexNet: 0,8824) dengan 390.410 parameter alih-alih 46,8 juta dan 15,5 alih-alih 1.876 MFLOP lintasan maju per gambar, dalam 24 detik per epoch (`results/slim-28/`, `benchmarks/exercise_models.py`).*
6. Ubahlah ukuran batch. Bagaimana throughput (gambar per detik), akurasi, dan memori GPU berubah? *`python -m d2l_alexnet.bench --backend {backend} --batch-sizes 16 32 64 128 256` mengukur throughput dan memori puncak untuk setiap ukuran dalam proses tersendiri lalu menggambar grafiknya; untuk akurasi, latih ulang dengan `--batch-size`.*
7. Tambahkan dropout dan ReLU ke LeNet-5. Apakah hasilnya membaik? Dapatkah Anda memperbaikinya lagi dengan prapemrosesan yang memanfaatkan invariansi gambar, misalnya pergeseran kecil dan pencerminan? *LeNet-5 adalah `LENET` di `d2l_alexnet.core.notebook`, dengan baris sigmoid dan average pooling seperti di buku; ganti setiap `Layer("sigmoid")` dengan `Layer("relu")` dan tambahkan `Layer("dropout", rate=0.5)` setelah aktivasi setiap lapisan fully connected tersembunyi (`Layer` ada di `d2l_alexnet.core.architecture`). Latih keduanya dengan `d2l.AlexNet(layers=rows, resize=28)`, LeNet dengan `lr=1.5` dan baris yang baru dengan `lr=0.5` (yang terbaik dari penjelajahan untuk masing-masing), lalu bandingkan; `LENET_RELU_DROPOUT` di `d2l_alexnet.core.exercises` berisi baris yang sudah diubah, dan di `results/slim-28/` jaringan itu mencapai 0,8687 dibandingkan 0,8606 milik LeNet, unggul dengan masing-masing dari tiga seed. Untuk pergeseran dan pencerminan, ubahlah batch pelatihan sebelum sampai ke model, misalnya di dalam modul data buatan Anda sendiri (lihat `notebooks/id/alexnet-in-another-lesson.ipynb`).*
8. Dapatkah Anda membuat AlexNet mengalami overfitting? Fitur mana yang perlu dihapus atau diubah agar pelatihannya gagal? *Cobalah set latih yang kecil dengan banyak epoch, misalnya `python -m d2l_alexnet.train --backend {backend} --limit-train 1000 --epochs 20`, dan matikan regularisasinya dengan `d2l.AlexNet(dropout=0)`. Untuk membuat pelatihan gagal, cobalah sigmoid sebagai pengganti ReLU di tabel, atau laju pembelajaran 1 (`--lr 1`).*""",
        "book-code": """## AlexNet versi buku dalam {framework}

Inilah jaringan dari bab ini sebagaimana buku menuliskannya untuk {framework}: {book_style}. Paket ini menyimpannya, persis seperti di buku, sebagai `d2l.BookAlexNet`, dan sel berikut mencetak kode sumbernya.""",
        "differences": """## Apa yang berbeda pada versi kita, dan mengapa

`AlexNet` yang dilatih di bawah menghitung jaringan yang sama, tetapi dibangun dari tabel lapisan yang juga menghasilkan perbandingan di atas dan laporan biaya di bawah, sehingga bentuk, jumlah parameter, dan biayanya tidak mungkin saling bertentangan. Pengujian proyek memeriksa, di setiap backend, bahwa `BookAlexNet` dan `AlexNet` kita mencetak ringkasan lapisan yang sama, memiliki jumlah parameter yang sama, dan, setelah memuat satu berkas parameter yang sama, memberikan output yang sama. {differences}""",
        "setup": """## Seberapa lama melatih, dan di mana

Melatih AlexNet seperti di bab ini (sepuluh epoch atas 60.000 gambar yang diperbesar menjadi 224×224) memakan waktu beberapa menit di GPU dan berjam-jam di CPU, sehingga notebook ini punya dua pilihan pelatihan, yang ditentukan oleh `QUICK` di sel kode pertama (sel itu diberi tag `parameters`, sehingga alat seperti papermill dapat mengisinya):

- **Pelatihan cepat** berjalan tiga epoch atas 4.096 gambar latih pertama, yang diperbesar menjadi 112×112 alih-alih 224×224 (seperempat jumlah pikselnya), dengan ukuran batch 32 dan laju pembelajaran 0,03, lalu diperiksa pada 1.024 gambar validasi. Di dua inti CPU pelatihan ini selesai dalam beberapa menit, dan AlexNet terlihat belajar: loss dimulai dari 2,30 dan sudah menurun dalam epoch pertama. {quick_precision}
- **Pelatihan penuh** adalah pelatihan seperti di bab: 10 epoch, ukuran batch 128, laju pembelajaran 0,01, input 224×224, dan seluruh data.

Variabel lingkungan `D2L_ALEXNET_QUICK` mengesampingkan sel tersebut: `1` untuk pelatihan cepat, `0` untuk pelatihan penuh, dan `smoke`, yang dipakai pengujian proyek, satu epoch singkat yang hanya menunjukkan bahwa setiap sel berjalan.

{env}""",
        "glossary": """## Glosarium

Notebook ini memakai istilah-istilah bab AlexNet dalam edisi bahasa Indonesia buku ini. Padanan bahasa Inggrisnya, untuk membaca dokumentasi framework:

{glossary}

Tetap dalam bahasa Inggris, seperti di bab ini: dropout, ReLU, sigmoid, stride, padding, kernel, pooling, epoch, dataset, overfitting, GPU, bandwidth.""",
    },
}

# The notebook, in order: (cell type, key). The key is also the cell's id, so it is unique, and
# the same in all eight notebooks.
CELLS = (
    ("markdown", "title"),
    ("markdown", "run-modes"),
    ("code", "parameters"),
    ("markdown", "why-2012"),
    ("markdown", "data-story"),
    ("markdown", "hardware-story"),
    ("markdown", "architecture"),
    ("code", "imports"),
    ("code", "comparison"),
    ("markdown", "book-code"),
    ("code", "source-book"),
    ("markdown", "differences"),
    ("markdown", "model-code"),
    ("code", "source-builder"),
    ("code", "source-alexnet"),
    ("markdown", "layer-summary"),
    ("code", "summary"),
    ("markdown", "cost-intro"),
    ("code", "cost"),
    ("markdown", "cost-reading"),
    ("markdown", "data-intro"),
    ("markdown", "setup"),
    ("code", "settings"),
    ("code", "data-batch"),
    ("markdown", "training"),
    ("code", "train"),
    ("markdown", "predictions"),
    ("code", "predict"),
    ("markdown", "discussion"),
    ("code", "dense-cost"),
    ("markdown", "exercises"),
    ("markdown", "glossary"),
)


# ---- the lesson notebook: AlexNet in another lesson (one file per language, any backend) -------

LESSON_FILE = "alexnet-in-another-lesson.ipynb"

LESSON_CODE = {
    "parameters": """# Any backend: "pytorch", "tensorflow", "jax"; "mxnet" from .venv-mxnet.
BACKEND = "pytorch\"""",
    "imports": """%matplotlib inline
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from d2l_alexnet.backends import load_backend
from d2l_alexnet.core.datamodule import show_images

d2l = load_backend(BACKEND)  # the same as `from d2l_alexnet import torch as d2l`, for any backend
SIZE = 67  # the smallest input AlexNet takes: every cell here runs in seconds on a CPU""",
    "make-folder": """def write_lesson_folder(root, per_class=40, seed=0):
    rng = np.random.default_rng(seed)
    for label, name in enumerate(("red", "green", "blue")):
        (root / name).mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            pixels = rng.integers(0, 60, (48, 48, 3)).astype(np.uint8)
            picture = Image.fromarray(pixels)
            colour = [int(value) for value in rng.integers(0, 60, 3)]
            colour[label] = int(rng.integers(190, 256))
            x, y = (int(value) for value in rng.integers(20, 28, 2))
            radius = int(rng.integers(14, 21))
            ImageDraw.Draw(picture).ellipse((x - radius, y - radius, x + radius, y + radius),
                                            fill=tuple(colour))
            picture.save(root / name / f"{index:03d}.png")
    return root


root = write_lesson_folder(Path(tempfile.mkdtemp()) / "shapes")
print(sorted(path.name for path in root.iterdir()), len(list(root.rglob("*.png"))), "files")""",
    "load-folder": """data = d2l.ImageFolder(root, batch_size=16, resize=SIZE, validation_split=0.25,
                      seed=0)
images, labels = next(data.raw_batches(train=False))
show_images(images[:8], 1, 8, titles=data.text_labels(labels[:8]));""",
    "model": """d2l.set_seed(0)
model = d2l.AlexNet(lr=0.05, num_classes=data.num_classes, resize=SIZE,
                    in_channels=data.in_channels)
model.layer_summary(model.input_batch_shape())""",
    "train": """trainer = d2l.Trainer(max_epochs=5)
history = trainer.fit(model, data)""",
    "predict": """val_images, val_labels = data.val_images, data.val_labels
predicted = model.predict(val_images)
print(f"{np.mean(predicted == val_labels):.2f} of {len(val_labels)} validation images right")
show_images(val_images[:8], 1, 8, titles=[f"{true}\\n{guess}" for true, guess in zip(
    data.text_labels(val_labels[:8]), data.text_labels(predicted[:8]))]);""",
    "features": """features = model.features(val_images)
unit = features / np.linalg.norm(features, axis=1, keepdims=True)
similarity = unit @ unit.T
same = val_labels[:, None] == val_labels[None, :]
print(f"features {features.shape}; mean cosine similarity: same class "
      f"{similarity[same].mean():.3f}, other classes {similarity[~same].mean():.3f}")""",
    "fashion": """fashion_data = d2l.FashionMNIST(batch_size=32, resize=(SIZE, SIZE),
                               limit_train=1024, limit_val=256)
d2l.set_seed(1)
fashion = d2l.AlexNet(lr=0.1, num_classes=10, resize=SIZE)
d2l.Trainer(max_epochs=1, progress=False).fit(fashion, fashion_data)
weights_path = Path(tempfile.mkdtemp()) / "fashion.safetensors"
fashion.save_weights(weights_path)""",
    "fine-tune": """d2l.set_seed(2)
tuned = d2l.AlexNet(lr=0.05, num_classes=data.num_classes, resize=SIZE, in_channels=3)
tuned.load_weights(weights_path, skip_head=True)
history = d2l.Trainer(max_epochs=1, progress=False).fit(tuned, data)""",
    "own-module": """class LessonData(d2l.DataModule):
    def __init__(self, train, val, batch_size=16):
        super().__init__()
        self.train, self.val, self.batch_size = train, val, batch_size

    def get_dataloader(self, train):
        images, labels = self.train if train else self.val
        order = np.random.default_rng().permutation(len(labels)) if train else range(len(labels))
        for start in range(0, len(labels), self.batch_size):
            part = np.sort(order[start:start + self.batch_size])
            yield d2l.resize_images(images[part], (SIZE, SIZE)), labels[part]


own = LessonData((data.train_images, data.train_labels), (val_images, val_labels))
history = d2l.Trainer(max_epochs=1, progress=False).fit(tuned, own)""",
    "refusals": """for attempt in (lambda: model.predict(np.zeros((2, SIZE, SIZE), np.uint8)),
                lambda: d2l.ArrayData((val_images * 1.0, val_labels), (val_images, val_labels)),
                lambda: d2l.AlexNet(num_classes=10, resize=SIZE).load_weights(weights_path.parent
                                                                          / "missing")):
    try:
        attempt()
    except Exception as error:
        print(f"{type(error).__name__}: {error}")""",
}

LESSON_CELLS = (
    ("markdown", "title"),
    ("code", "parameters"),
    ("code", "imports"),
    ("markdown", "folder"),
    ("code", "make-folder"),
    ("code", "load-folder"),
    ("markdown", "model"),
    ("code", "model"),
    ("markdown", "train"),
    ("code", "train"),
    ("markdown", "predict"),
    ("code", "predict"),
    ("markdown", "features"),
    ("code", "features"),
    ("markdown", "fine-tune"),
    ("code", "fashion"),
    ("code", "fine-tune"),
    ("markdown", "own-module"),
    ("code", "own-module"),
    ("markdown", "refusals"),
    ("code", "refusals"),
    ("markdown", "summary"),
)

LESSON_PROSE = {
    "en": {
        "title": """# AlexNet in another lesson

The chapter trains AlexNet on Fashion-MNIST; other lessons bring their own images: colour photographs, a folder of classes, a dataset of their own, or weights trained somewhere else. This notebook takes the chapter's network into such a lesson. The code is the same in every backend: set `BACKEND` below (MXNet runs from its own environment, `.venv-mxnet`).""",
        "folder": """## A folder of images, one subfolder per class

Lessons often keep their data the way torchvision's `ImageFolder` and Keras' `image_dataset_from_directory` read it: a folder per class, named after it. We write a small one here (colour discs on noise, three classes by their colour), then read it with `d2l.ImageFolder`: classes come from the sorted folder names, every file is decoded once with Pillow and resized to `resize`, and a seeded split per class keeps a quarter of each for validation. A file Pillow cannot read stops it with one line naming the file.""",
        "model": """## The network, for three colour channels

`in_channels=3` gives the first convolution three input channels; `num_classes` sizes the last layer. The rest is the chapter's network; at 67×67 the maps shrink to a single pixel before the dense layers.""",
        "train": """## Training

The Trainer is the chapter's: it reads our data module's batches (uint8 pixels, scaled by 1/255 once, on the device) and resizes them there.""",
        "predict": """## Predictions

`model.predict` takes numpy images in any layout the data modules take and returns class indices, in evaluation mode (no dropout). Above each image: the true class, then the prediction.""",
        "features": """## Features

`model.features` returns the 4,096 activations of the second dense layer, the representation the last layer classifies. Images of one class should lie closer together there than images of different classes.""",
        "fine-tune": """## Fine-tuning from the chapter's weights

A lesson may start from weights trained elsewhere. Here a greyscale, ten-class AlexNet trains briefly on Fashion-MNIST and saves its weights; a three-class RGB AlexNet then loads them with `skip_head=True` (every layer but the last, which stays freshly initialized). The file has one input channel and the model three, so the first convolution's kernel is repeated over the channels and divided by three, and the loader says so in one line: a grey image given in all three channels then gets the response the greyscale network gave it.""",
        "own-module": """## The lesson's own data module

Any data module in the book's style trains too: a `d2l.DataModule` whose `get_dataloader(train)` yields `(X, y)` batches in the model's layout. Here it yields tensors of the backend (`d2l.resize_images` turns uint8 numpy images into them); a PyTorch `DataLoader`, a `tf.data.Dataset` or a Gluon `DataLoader` works the same way.""",
        "refusals": """## When something does not fit

A batch of the wrong channel count, float images still in 0..255, a missing weights file: each stops with one line that says what is wrong and what to change.""",
        "summary": """## Summary

* `AlexNet(num_classes=..., resize=..., in_channels=...)` builds the chapter's network for any number of classes, any input size (non-square too) and any channel count.
* `ImageFolder` and `ArrayData` turn a folder of images or numpy arrays into a data module; any book-style module with its own loaders trains as well.
* `predict` and `features` give class indices and the 4,096-dimensional representation, in evaluation mode.
* `load_weights(path, skip_head=True)` starts a new task from trained weights, adapting the first convolution to another channel count.""",
    },
    "id": {
        "title": """# AlexNet di pelajaran lain

Bab ini melatih AlexNet pada Fashion-MNIST; pelajaran lain membawa gambarnya sendiri: foto berwarna, folder berisi kelas-kelas, dataset buatan sendiri, atau parameter yang dilatih di tempat lain. Notebook ini membawa jaringan dari bab tersebut ke pelajaran semacam itu. Kodenya sama di setiap backend: atur `BACKEND` di bawah (MXNet dijalankan dari lingkungannya sendiri, `.venv-mxnet`).""",
        "folder": """## Folder gambar, satu subfolder per kelas

Pelajaran sering menyimpan data seperti cara `ImageFolder` dari torchvision dan `image_dataset_from_directory` dari Keras membacanya: satu folder per kelas, diberi nama kelas itu. Di sini kita membuat folder kecil (cakram berwarna di atas derau, tiga kelas yang dibedakan oleh warnanya), lalu membacanya dengan `d2l.ImageFolder`: kelas diambil dari nama folder yang diurutkan, setiap berkas didekode sekali dengan Pillow dan diubah ukurannya ke `resize`, dan pembagian acak dengan seed per kelas menyisihkan seperempat dari setiap kelas untuk validasi. Berkas yang tidak dapat dibaca Pillow menghentikan proses dengan satu baris yang menyebut nama berkas itu.""",
        "model": """## Jaringan untuk tiga saluran warna

`in_channels=3` memberi lapisan konvolusi pertama tiga saluran input; `num_classes` menentukan ukuran lapisan terakhir. Selebihnya adalah jaringan dari bab ini; pada 67×67, peta fitur menyusut hingga satu piksel sebelum lapisan *fully connected*.""",
        "train": """## Pelatihan

Trainer-nya sama dengan yang dipakai di bab ini: ia membaca batch dari modul data kita (piksel uint8, diskalakan dengan 1/255 satu kali saja, di perangkat) dan mengubah ukurannya di sana.""",
        "predict": """## Prediksi

`model.predict` menerima gambar numpy dalam tata letak apa pun yang diterima modul data, dan mengembalikan indeks kelas dalam mode evaluasi (tanpa dropout). Di atas setiap gambar: kelas yang benar, lalu hasil prediksi.""",
        "features": """## Fitur

`model.features` mengembalikan 4.096 aktivasi dari lapisan *fully connected* kedua, yaitu representasi yang diklasifikasikan oleh lapisan terakhir. Gambar-gambar dari satu kelas semestinya saling berdekatan di sana dibandingkan gambar-gambar dari kelas yang berbeda.""",
        "fine-tune": """## *Fine-tuning* dari parameter bab ini

Sebuah pelajaran dapat dimulai dari parameter yang dilatih di tempat lain. Di sini AlexNet skala abu-abu dengan sepuluh kelas dilatih sebentar pada Fashion-MNIST lalu menyimpan parameternya; AlexNet RGB dengan tiga kelas kemudian memuatnya dengan `skip_head=True` (semua lapisan kecuali yang terakhir, yang tetap berisi inisialisasi baru). Berkas itu punya satu saluran input sedangkan model punya tiga, sehingga kernel konvolusi pertama diulang di setiap saluran lalu dibagi tiga, dan pemuatnya memberi tahu hal itu dalam satu baris: gambar abu-abu yang diberikan di ketiga saluran lalu mendapat respons yang sama seperti dari jaringan skala abu-abu.""",
        "own-module": """## Modul data milik pelajaran sendiri

Modul data apa pun yang mengikuti gaya buku juga dapat dilatih: sebuah `d2l.DataModule` yang `get_dataloader(train)`-nya menghasilkan batch `(X, y)` dalam tata letak model. Di sini ia menghasilkan tensor dari backend (`d2l.resize_images` mengubah gambar numpy uint8 menjadi tensor itu); `DataLoader` dari PyTorch, `tf.data.Dataset`, atau `DataLoader` dari Gluon bekerja dengan cara yang sama.""",
        "refusals": """## Ketika sesuatu tidak cocok

Batch dengan jumlah saluran yang salah, gambar float yang masih bernilai 0..255, berkas parameter yang tidak ada: masing-masing berhenti dengan satu baris yang menjelaskan apa yang salah dan apa yang perlu diubah.""",
        "summary": """## Ringkasan

* `AlexNet(num_classes=..., resize=..., in_channels=...)` membangun jaringan dari bab ini untuk berapa pun jumlah kelas, ukuran input apa pun (juga yang tidak persegi), dan berapa pun jumlah saluran.
* `ImageFolder` dan `ArrayData` mengubah folder gambar atau array numpy menjadi modul data; modul apa pun bergaya buku dengan pemuatnya sendiri juga dapat dilatih.
* `predict` dan `features` memberikan indeks kelas dan representasi berdimensi 4.096, dalam mode evaluasi.
* `load_weights(path, skip_head=True)` memulai tugas baru dari parameter yang sudah dilatih, dan menyesuaikan konvolusi pertama dengan jumlah saluran yang berbeda.""",
    },
}


def build_lesson_notebook(language):
    """The lesson notebook in ``language`` as an nbformat 4.5 dict, without outputs."""
    cells = [_cell(kind, key, LESSON_CODE[key] if kind == "code" else LESSON_PROSE[language][key])
             for kind, key in LESSON_CELLS]
    ids = [cell["id"] for cell in cells]
    # A prose cell and a code cell may share a key: their ids must not.
    for index, cell in enumerate(cells):
        if ids.count(cell["id"]) > 1 and cell["cell_type"] == "markdown":
            cell["id"] = f"{cell['id']}-text"
    return {
        "cells": cells,
        "metadata": {
            "d2l_alexnet": {"lesson": "another-lesson", "language": language},
            "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python",
                           "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def _note(language, kind, backend):
    table = NOTES[language][kind]
    return table.get(backend, table.get("default"))


def _decimal(value, language):
    """0.71 in English, 0,71 in Indonesian."""
    text = f"{value:.2f}"
    return text.replace(".", ",") if language == "id" else text


def prose(backend, language, key):
    """The Markdown of prose cell ``key`` for ``backend`` in ``language``."""
    framework = BACKENDS[backend]["framework"]
    layout = "nhwc" if backend in ("tensorflow", "jax") else "nchw"
    fields = {
        "framework": framework,
        "backend": backend,
        "book_style": _note(language, "book_style", backend),
        "differences": _note(language, "differences", backend),
        "quick_result": _decimal(QUICK_VAL_ACC[backend], language),
        "full_result": FULL_RESULT[language],
        "glossary": glossary_table(language),
        "env": _note(language, "env", backend).format(framework=framework),
        "quick_precision": _note(language, "quick_precision", backend),
        "model": _note(language, "model", backend),
        "layout": NOTES[language]["layout"][layout].format(framework=framework),
        "predict": _note(language, "predict", backend),
    }
    return PROSE[language][key].format(**fields)


def _cell(cell_type, key, source):
    cell = {"cell_type": cell_type, "id": key, "metadata": {}, "source": source}
    if cell_type == "code":
        cell.update(execution_count=None, outputs=[])
        if key == "parameters":
            cell["metadata"] = {"tags": ["parameters"]}
    return cell


def build_notebook(backend, language):
    """The notebook of ``backend`` in ``language`` as an nbformat 4.5 dict, without outputs."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}: choose one of {', '.join(LANGUAGES)}")
    cells = [_cell(kind, key, code(backend, key, language) if kind == "code"
                   else prose(backend, language, key)) for kind, key in CELLS]
    if len({cell["id"] for cell in cells}) != len(cells):
        raise ValueError("two cells share an id: every key in CELLS must be unique")
    return {
        "cells": cells,
        "metadata": {
            "d2l_alexnet": {"backend": backend, "language": language},
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


def notebook_path(backend, language):
    return LANGUAGES[language] / BACKENDS[backend]["file"]


def generate():
    """``{path: file text}`` for all ten notebooks: the chapter's eight and the lesson's two."""
    texts = {notebook_path(backend, language): render(build_notebook(backend, language))
             for language in LANGUAGES for backend in BACKENDS}
    texts.update({LANGUAGES[language] / LESSON_FILE: render(build_lesson_notebook(language))
                  for language in LANGUAGES})
    return texts


def validate(texts):
    """Check every notebook against the nbformat schema (needs ``nbformat``)."""
    import nbformat

    for path, text in texts.items():
        try:
            nbformat.validate(nbformat.reads(text, as_version=4))
        except nbformat.ValidationError as error:
            raise SystemExit(f"error: {path.relative_to(ROOT)} is not a valid notebook: "
                             f"{error.message}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if a committed notebook differs")
    args = parser.parse_args(argv)
    texts = generate()
    stale = [path for path, text in texts.items()
             if not path.exists() or path.read_text(encoding="utf-8") != text]
    if args.check:
        for path in stale:
            print(f"{path.relative_to(ROOT)} is stale: run python tools/make_notebooks.py")
        return 1 if stale else 0
    try:
        validate(texts)
    except ImportError:
        print("error: nbformat is needed to validate the notebooks: pip install nbformat "
              "(or pip install -e '.[notebooks]')", file=sys.stderr)
        return 2
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
