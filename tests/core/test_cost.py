import json
import os
import re
import subprocess
import sys

import pytest

from d2l_alexnet.core.cost import cost_report, format_cost_report
from d2l_alexnet import cost as cost_cli


def test_report_totals_and_split():
    report = cost_report()
    assert report["totals"]["parameters"] == 46_764_746
    assert report["totals"]["parameter_bytes"] == 4 * 46_764_746
    assert report["conv"]["parameters"] + report["dense"]["parameters"] == 46_764_746
    # The chapter's point: dense layers hold the memory, convolutions do the work.
    assert report["dense"]["parameter_bytes"] > 10 * report["conv"]["parameter_bytes"]
    assert report["conv"]["forward_flops"] > 10 * report["dense"]["forward_flops"]
    first = report["layers"][0]
    assert first["layer"] == "Conv" and first["output_shape"] == [96, 54, 54]
    assert first["forward_flops"] == 2 * 96 * 121 * 54 * 54
    assert first["activation_bytes"] == 4 * 96 * 54 * 54


def test_batch_scales_flops_and_activations_not_parameters():
    one, many = cost_report(batch_size=1), cost_report(batch_size=8)
    assert many["totals"]["forward_flops"] == 8 * one["totals"]["forward_flops"]
    assert many["totals"]["activation_bytes"] == 8 * one["totals"]["activation_bytes"]
    assert many["totals"]["parameters"] == one["totals"]["parameters"]


def test_rgb_inputs_change_the_first_convolution_only():
    """The network train --image-folder builds for RGB images, at the lesson's 67×67: 21,622,154
    parameters, 96 × 11 × 11 × 2 more than the greyscale one's, all in conv1."""
    grey, rgb = cost_report(67, 10), cost_report(67, 10, in_channels=3)
    assert rgb["in_channels"] == 3 and rgb["totals"]["parameters"] == 21_622_154
    assert rgb["totals"]["parameters"] - grey["totals"]["parameters"] == 96 * 11 * 11 * 2
    assert [entry["parameters"] for entry in rgb["layers"][1:]] == [
        entry["parameters"] for entry in grey["layers"][1:]]
    assert format_cost_report(rgb).startswith("AlexNet cost for 1 image(s) of 3×67×67, ")


def test_cli_takes_the_channel_count(capsys):
    assert cost_cli.main(["--in-channels", "3", "--resize", "67", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["totals"]["parameters"] == 21_622_154
    with pytest.raises(SystemExit) as exit_status:
        cost_cli.main(["--in-channels", "0"])
    assert exit_status.value.code == 2
    assert capsys.readouterr().err == "error: --in-channels must be at least 1, got 0\n"


def test_table_mentions_every_layer():
    text = format_cost_report(cost_report())
    assert text.count("\n") >= 21 + 5
    assert "46,764,746" in text and "5.63 GFLOP per image" in text


def test_the_title_names_a_non_square_input_as_height_by_width():
    """``cost_report((96, 128))`` was titled "1×(96, 128)×(96, 128)"; read back from JSON too."""
    import json

    for report in (cost_report((96, 128)), json.loads(json.dumps(cost_report((96, 128))))):
        assert format_cost_report(report).splitlines()[0].startswith(
            "AlexNet cost for 1 image(s) of 1×96×128, 10 classes")


def test_cli_json_and_bad_input(capsys):
    assert cost_cli.main(["--json", "--batch-size", "2"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["batch_size"] == 2
    result = subprocess.run([sys.executable, "-m", "d2l_alexnet.cost", "--resize", "20"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "at least 67" in result.stderr
    with pytest.raises(SystemExit) as exit_status:
        cost_cli.main(["--num-classes", "1"])
    assert exit_status.value.code == 2
    assert capsys.readouterr().err == ("error: --num-classes must be at least 2 (a classifier "
                                       "chooses between classes), got 1\n")


@pytest.mark.parametrize("batch, verdict", [
    (1, "the weights dominate."), (34, "the weights dominate."),
    (35, "the activations dominate (they grow with the batch, the weights do not).")])
def test_the_memory_verdict_comes_from_the_reports_own_totals(batch, verdict):
    """178.4 MiB of weights against 5.1 MiB of activations per image: from a batch of 35 the
    activations weigh more, and the closing line says so (it was fixed text before)."""
    report = cost_report(224, 10, batch_size=batch)
    totals = report["totals"]
    assert (totals["activation_bytes"] > totals["parameter_bytes"]) == (batch >= 35)
    memory, compute = format_cost_report(report, language="en").splitlines()[-2:]
    assert memory.startswith(f"Memory for {batch} image(s): 178.4 MiB of weights (92.0% of "
                             "them in the dense layers) and ") and memory.endswith(verdict)
    assert compute.startswith("Compute: the convolutions do 95.4% of the forward FLOPs, the "
                              "dense layers 4.6%.")


def test_the_report_speaks_the_indonesian_editions_words():
    report = cost_report(224, 10)
    text = format_cost_report(report, language="id")
    assert text.splitlines()[0] == "Biaya AlexNet untuk 1 gambar 1×224×224, 10 kelas (fp32)"
    assert "fully connected parameter   43.040.778 ( 92,0%)" in text and "dense" not in text
    assert "45,8 KiB" in text and text.endswith("5,63 GFLOP per gambar.")
    # The numbers are the English report's, written the Indonesian way: a dot between
    # thousands, a decimal comma (an Indonesian reader takes 43,040,778 for about 43).
    numbers = re.compile(r"\d[\d,.]*\d|\d")
    swapped = str.maketrans({",": ".", ".": ","})
    assert numbers.findall(text) == [figure.translate(swapped) for figure in
                                     numbers.findall(format_cost_report(report, language="en"))]
    with pytest.raises(ValueError, match="language must be one of en, id"):
        format_cost_report(report, language="fr")


def test_a_terminal_that_cannot_print_the_times_sign_gets_an_escape_not_a_traceback():
    result = subprocess.run([sys.executable, "-m", "d2l_alexnet.cost"], capture_output=True,
                            env={**os.environ, "PYTHONIOENCODING": "ascii"})
    assert result.returncode == 0, result.stderr
    assert b"1\\xd7224\\xd7224" in result.stdout


def test_a_reader_that_stops_reading_ends_the_report_quietly():
    reader = subprocess.Popen([sys.executable, "-m", "d2l_alexnet.cost", "--json"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    reader.stdout.close()  # as `| head -1` does once it has its line
    assert reader.wait(timeout=60) == 141
    assert reader.stderr.read() == b""


def test_a_full_disk_under_stdout_is_one_line():
    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, "-m", "d2l_alexnet.cost"], stdout=full,
                                stderr=subprocess.PIPE, text=True)
    assert result.returncode == 1
    assert result.stderr == "error: cannot write the report to stdout (the disk is full)\n"


# ---- other tables than the chapter's AlexNet: LeNet-5 and the exercises' (5 and 7) -----------

def test_a_lenet_table_is_costed_row_by_row():
    """LeNet-5's sigmoid and average-pool rows were a KeyError; counted by hand at 28×28:
    conv1 6×(1×5×5)+6 = 156 parameters and 2×150×28×28 = 235,200 FLOPs, 61,706 parameters and
    833,040 forward FLOPs in all, 15,002 activations (60,008 bytes)."""
    from d2l_alexnet.core.notebook import LENET

    report = cost_report(28, 10, layers=LENET)
    assert report["model"] == "lenet"
    assert [entry["layer"] for entry in report["layers"]] == [
        "Conv", "Sigmoid", "AvgPool", "Conv", "Sigmoid", "AvgPool", "Flatten",
        "Dense", "Sigmoid", "Dense", "Sigmoid", "Dense"]
    conv1 = report["layers"][0]
    assert (conv1["parameters"], conv1["forward_flops"], conv1["activation_bytes"]) == (
        156, 235_200, 4 * 6 * 28 * 28)
    assert report["conv"]["parameters"] == 156 + 2_416
    assert report["dense"]["forward_flops"] == 2 * (400 * 120 + 120 * 84 + 84 * 10)
    assert report["totals"] == {"parameters": 61_706, "parameter_bytes": 246_824,
                                "forward_flops": 833_040, "activation_bytes": 60_008}
    lines = format_cost_report(report, language="en").splitlines()
    assert lines[0] == "lenet cost for 1 image(s) of 1×28×28, 10 classes (fp32)"
    # Under a GFLOP the FLOPs are MFLOP, to three decimals: the last layer's 1,680 is not 0.0.
    assert lines[-7].endswith("      850     3.3 KiB       0.002        40 B")
    assert lines[-3].endswith("forward   0.833 MFLOP (100.0%)")
    assert lines[-2] == ("Memory for 1 image(s): 241.0 KiB of weights (95.8% of them in the "
                         "dense layers) and 58.6 KiB of activations: the weights dominate.")
    assert lines[-1] == ("Compute: the convolutions do 85.9% of the forward FLOPs, the dense "
                         "layers 14.1%. A training step costs about 3× the forward pass: "
                         "2.50 MFLOP per image.")
    indonesian = format_cost_report(report, language="id")
    assert indonesian.startswith("Biaya lenet untuk 1 gambar 1×28×28, 10 kelas (fp32)")
    assert indonesian.endswith("maju: 2,50 MFLOP per gambar.")


def test_every_layer_kind_has_a_name_in_the_report():
    from d2l_alexnet.core.architecture import KINDS
    from d2l_alexnet.core.notebook import LENET

    names = {entry["layer"] for report in (cost_report(), cost_report(28, layers=LENET))
             for entry in report["layers"]}
    assert len(names) == len(KINDS)


def test_a_table_whose_only_dense_layer_is_the_head_is_said_so():
    """Rows of one's own: titled as a table, and "the dense layer", not "the dense layers"."""
    from d2l_alexnet.core.architecture import ALEXNET, Layer

    rows = (Layer("conv", 8, kernel=3), Layer("relu"), Layer("flatten"), Layer("dense"))
    report = cost_report(28, layers=rows)
    assert report["model"] is None and report["dense"]["parameters"] == 8 * 26 * 26 * 10 + 10
    text = format_cost_report(report, language="en")
    assert text.startswith("Table cost for 1 image(s) of 1×28×28, 10 classes (fp32)")
    assert "% of them in the dense layer) and " in text and ", the dense layer " in text
    assert format_cost_report(report, language="id").startswith("Biaya tabel untuk 1 gambar")
    # The chapter's table by name, and a report saved before reports named their table.
    assert cost_report(layers=ALEXNET) == cost_report()
    saved = cost_report()
    del saved["model"]
    assert format_cost_report(saved) == format_cost_report(cost_report())


def test_cli_costs_an_exercise_table_at_its_own_size(capsys):
    assert cost_cli.main(["--model", "slim-28", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["model"], report["resize"]) == ("slim-28", 28)
    assert report["totals"]["parameters"] == 390_410
    assert report["totals"]["forward_flops"] == 15_497_216
    assert cost_cli.main(["--model", "slim-28", "--batch-size", "2"]) == 0
    assert capsys.readouterr().out.startswith(
        "slim-28 cost for 2 image(s) of 1×28×28, 10 classes (fp32)\n")
    assert cost_cli.main(["--json"]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == "alexnet"


@pytest.mark.parametrize("arguments, message", [
    (["--model", "vgg"], "error: unknown --model 'vgg': choose one of alexnet, lenet, "
                         "lenet-relu-dropout, slim-28\n"),
    (["--model", "lenet", "--resize", "11"],
     "error: --resize must be at least 12 for lenet (the exercises use 28)\n"),
    (["--resize", "66"],
     "error: --resize must be at least 67 for AlexNet (the chapter uses 224)\n"),
])
def test_cli_refuses_an_unknown_model_or_a_resize_too_small_for_it(capsys, arguments, message):
    with pytest.raises(SystemExit) as exit_status:
        cost_cli.main(arguments)
    assert exit_status.value.code == 2
    assert capsys.readouterr() == ("", message)
