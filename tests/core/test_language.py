"""The language a run prints in (``core/language.py``): the Indonesian edition's words and number
format for what the Indonesian notebooks show as they train, and English errors everywhere."""

import io
import re

import pytest
from PIL import Image

from d2l_alexnet.core import language, weights
from d2l_alexnet.core.images import ImageFolder
from d2l_alexnet.core.language import byte_size, get_language, number, say, set_language
from d2l_alexnet.core.progress import ProgressBar, ProgressBoard
from d2l_alexnet.core.trainer import format_epoch
from numpy_backend import FashionMNIST, NumpyTrainer, SoftmaxRegression
from test_weights import SMALL, random_canonical


@pytest.fixture
def indonesian():
    """The process speaks Indonesian for one test, and English again after it."""
    set_language("id")
    yield
    set_language("en")


@pytest.mark.parametrize("value, decimals, english, indonesian", [
    (4096, 0, "4,096", "4.096"), (42_999_808, 0, "42,999,808", "42.999.808"),
    (0.88244, 4, "0.8824", "0,8824"), (1234.5, 1, "1,234.5", "1.234,5"), (0.5, None, "0.5", "0,5"),
    (7, 0, "7", "7")])
def test_numbers_are_written_as_each_language_writes_them(value, decimals, english, indonesian):
    assert number(value, decimals, "en") == english
    assert number(value, decimals, "id") == indonesian


def test_the_current_language_is_english_until_set(indonesian):
    assert get_language() == "id" and number(4096) == "4.096" and byte_size(47_104) == "46,0 KiB"
    set_language("en")
    assert number(4096) == "4,096" and byte_size(47_104) == "46.0 KiB" and byte_size(512) == "512 B"
    with pytest.raises(ValueError, match="language must be one of en, id, got 'fr'"):
        set_language("fr")
    assert get_language() == "en"


def test_every_message_has_both_languages_with_the_same_fields():
    import string

    def fields(text):
        return {name for _, name, _, _ in string.Formatter().parse(text) if name}

    assert language.MESSAGES["en"].keys() == language.MESSAGES["id"].keys()
    for key, english in language.MESSAGES["en"].items():
        assert fields(english) == fields(language.MESSAGES["id"][key]), key


RECORD = {"epoch": 2, "train_loss": 0.61234, "val_loss": 0.5, "val_acc": 0.8824,
          "seconds": 12345.67, "images_per_sec": 17.71}


def test_the_epoch_line_in_indonesian(indonesian):
    assert format_epoch(RECORD, 10) == ("epoch 2/10: train_loss 0,6123  val_loss 0,5000  "
                                        "val_acc 0,8824  12345,7 s  17,7 gambar/s")
    set_language("en")  # the CLI's line, unchanged (no thousands grouping)
    assert format_epoch(RECORD, 10) == ("epoch 2/10: train_loss 0.6123  val_loss 0.5000  "
                                        "val_acc 0.8824  12345.7 s  17.7 img/s")


def test_a_training_run_prints_its_lines_in_indonesian(indonesian):
    lines = []
    data = FashionMNIST(batch_size=10, resize=67, limit_train=1_200, limit_val=20, log=None)
    NumpyTrainer(max_epochs=1, progress=False, log=lines.append,
                 board=ProgressBoard(live=False)).fit(SoftmaxRegression(), data)
    assert lines[0] == "pelatihan di cpu (fp32): 1.200 gambar per epoch, batch 10, 1 epoch"
    assert lines[1].startswith("epoch 1/1: train_loss ") and lines[1].endswith(" gambar/s")


def test_the_progress_bar_writes_its_rate_and_loss_as_the_language_does(indonesian):
    """The bar's rate and running loss, beside the epoch line, in the same format (an
    Indonesian reader takes 2.3034 for twenty-three thousand), with or without a total."""
    for total, edition, expected in (
            (3000, "id", r"1500/3000 \[[0-9:<]+, \d+,\d gambar/s, loss 2,3034\]"),
            (None, "id", r"1500 \[[0-9:]+, \d+,\d gambar/s, loss 2,3034\]"),
            (3000, "en", r"1500/3000 \[[0-9:<]+, \d+\.\d img/s, loss 2\.3034\]")):
        set_language(edition)
        log = io.StringIO()
        bar = ProgressBar(total, "epoch 1/1", stream=log, log_interval=0)
        bar.update(1500, loss=2.30344)
        bar.close()
        assert re.search(expected, log.getvalue()), log.getvalue()


def test_an_image_folders_summary_and_a_weights_files_note_in_indonesian(indonesian, tmp_path):
    for name, value in (("gelap", 40), ("terang", 210)):
        for index in range(3):
            (tmp_path / name).mkdir(exist_ok=True)
            Image.new("RGB", (20, 20), (value,) * 3).save(tmp_path / name / f"{index}.png")
    lines = []
    ImageFolder(tmp_path, batch_size=2, resize=(16, 16), validation_split=0.34,
                log=lines.append)
    assert lines == [f"ImageFolder {tmp_path}: 2 kelas, 4 gambar latih dan 2 gambar validasi, "
                     f"3×16×16 (4,5 KiB di memori)"]
    path = tmp_path / "greyscale.safetensors"
    weights.save_canonical(path, random_canonical(), SMALL, 10, "pytorch", 1)
    notes = []
    weights.load_weights(path, "NCHW", SMALL, 10, 3, log=notes.append)
    assert notes == [f"{path}: conv1 disimpan untuk 1 saluran input, model ini punya 3: "
                     f"kernelnya diulang untuk 3 saluran input lalu dibagi 3"]


def test_the_notices_a_notebook_may_print_are_in_indonesian(indonesian, tmp_path, monkeypatch):
    """The subset's notice, which the Indonesian chapter promises, an image folder's skipped
    files, an early stop and num_gpus without a GPU printed English between Indonesian lines."""
    from d2l_alexnet.core import data
    from d2l_alexnet.core.callbacks import EarlyStopping

    monkeypatch.delenv(data.ENV_DATA_DIR, raising=False)
    lines = []
    data.load_fashion_mnist(data_dir=None, cache_dir=tmp_path / "empty", system_dirs=[],
                            download=False, log=lines.append)
    assert lines == [
        "Fashion-MNIST lengkap tidak ditemukan; memakai subset bawaan berisi 4.000 gambar (3.000 "
        "latih, 1.000 validasi; akurasinya tidak akan sama dengan buku). Untuk mendapatkan set "
        "lengkapnya, izinkan pengunduhan (perlu internet), jalankan `apt-get install "
        "dataset-fashion-mnist`, atau berikan --data-dir DIR (atau atur D2L_ALEXNET_DATA=DIR) "
        "yang menunjuk direktori berisi keempat file resmi, .gz atau bukan."]
    for name in ("a", "b"):
        (tmp_path / "folder" / name).mkdir(parents=True)
        for index in range(2):
            Image.new("L", (4, 4), 9).save(tmp_path / "folder" / name / f"{index}.png")
    (tmp_path / "folder" / "b" / "bad.png").write_text("not a PNG")
    lines = []
    ImageFolder(tmp_path / "folder", resize=4, skip_unreadable=True, log=lines.append)
    assert lines[0] == (f"ImageFolder {tmp_path / 'folder'}: 1 file gambar yang tidak terbaca "
                        f"dilewati: b/bad.png")
    stopped = []
    stopping = EarlyStopping(patience=1)
    trainer = type("Stub", (), {"history": [], "is_first_replica": True,
                                "request_stop": lambda self, reason: stopped.append(reason)})()
    stopping.on_fit_start(trainer, None)
    for epoch, accuracy in ((1, 0.25), (2, 0.2)):
        stopping.on_evaluation(trainer, {"epoch": epoch, "val_acc": accuracy})
    assert stopped == ["penghentian dini: val_acc tidak membaik dari 0,2500 (epoch 1) selama 1 "
                       "epoch"]
    monkeypatch.setattr(NumpyTrainer, "gpu_available", lambda trainer: False)
    lines = []
    NumpyTrainer(max_epochs=1, num_gpus=2, log=lines.append)
    assert lines[0].startswith("num_gpus=2: tidak ada GPU yang terlihat oleh numpy, jadi "
                               "pelatihan berjalan di CPU sebagai satu perangkat")


def test_the_boards_ticks_are_numbered_as_the_language_writes_numbers(indonesian):
    board = ProgressBoard(live=False)
    for x, y in ((0.5, 2.25), (1.0, 1.5), (1.5, 0.75)):
        board.draw(x, y, "train_loss")
    axes = board.figure().axes[0]
    ticks = [axes.yaxis.get_major_formatter()(value) for value in (0.5, 1.0, 1.25)]
    assert ticks == ["0,5", "1", "1,25"]
    language.set_language("en")
    assert ProgressBoard(live=False).figure().axes[0].yaxis.get_major_formatter()(
        1.25) != "1,25"


def test_errors_stay_in_english(indonesian, tmp_path):
    with pytest.raises(weights.WeightsError, match="cannot read weights file"):
        weights.load_weights(tmp_path / "missing.safetensors", "NCHW", SMALL, 10)
    with pytest.raises(ValueError, match="language must be one of en, id"):
        say("epoch", "fr")
