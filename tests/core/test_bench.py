"""The benchmark's framework-free parts: refusals, the table and the sweep plot."""

import errno
import io
import json
import os
import signal
import sys
import time
import types

import pytest

from d2l_alexnet import bench
from d2l_alexnet.core.errors import DeviceError

RESULT = {"backend": "pytorch", "device": "cpu", "precision": "fp32", "batch_size": 16,
          "resize": 224, "gemm_peak_gflops": 200.0, "step_images_per_sec": 30.0,
          "end_to_end_images_per_sec": 29.0, "inference_images_per_sec": 90.0,
          "achieved_gflops": 168.9, "peak_of_gemm_ratio": 0.84, "end_to_end_of_step_ratio": 0.97,
          "peak_memory_bytes": 3 * 2**30, "peak_memory_kind": "host max RSS"}


def test_bad_arguments_exit_2(capsys):
    assert bench.main(["--backend", "caffe"]) == 2
    assert "unknown backend 'caffe'" in capsys.readouterr().err
    assert bench.main(["--steps", "0"]) == 2
    assert bench.main(["--resize", "40"]) == 2
    assert "at least 67" in capsys.readouterr().err


def test_table_lists_every_measurement():
    text = bench.format_result(RESULT)
    for label in ("matmul peak", "training step", "end to end", "inference", "of matmul peak",
                  "peak memory"):
        assert label in text
    assert "3,072 MiB, host max RSS" in text and "0.84" in text
    machine = {"processor": "AMD EPYC", "cpu_features": ["avx512f", "avx512_bf16"]}
    assert "AMD EPYC (avx512f, avx512_bf16)" in bench.format_result(dict(RESULT,
                                                                           machine=machine))


def test_a_compiled_measurement_says_so_with_its_first_step_and_epoch():
    compiled = dict(RESULT, compile="max-autotune", first_step_seconds=41.5,
                    end_to_end_first_epoch_images_per_sec=12.0)
    text = bench.format_result(compiled)
    assert text.splitlines()[0].endswith(", torch.compile (max-autotune)")
    assert "first step" in text and "41.50 s" in text and "first epoch" in text
    assert "torch.compile" in bench.format_result(dict(compiled, compile=True))
    assert "torch.compile" not in bench.format_result(dict(RESULT, compile=False))


def test_sweep_plot_is_a_png(tmp_path):
    results = [dict(RESULT, batch_size=size, step_images_per_sec=size ** 0.5)
               for size in (16, 32, 64)]
    path = tmp_path / "sweep.png"
    bench.plot_sweep(results, str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_sweep_in_any_order_is_drawn_as_a_curve_and_titled_with_its_compilation(
        monkeypatch, tmp_path):
    """Sizes given as 8 2 4 are drawn left to right (they zig-zagged), and a compiled sweep's
    title says so (it read as an eager one's)."""
    drawn = []
    monkeypatch.setattr(bench, "figure_png", lambda figure: drawn.append(figure) or b"png")
    results = [dict(RESULT, batch_size=size, compile="max-autotune") for size in (8, 2, 4)]
    bench.plot_sweep(results, str(tmp_path / "sweep.png"))
    (figure,) = drawn
    for line in (*figure.axes[0].lines, *figure.axes[1].lines):
        assert list(line.get_xdata()) == [2, 4, 8]
    assert figure._suptitle.get_text() == ("AlexNet pytorch, fp32, compiled (max-autotune), "
                                           "cpu")
    assert [result["batch_size"] for result in results] == [8, 2, 4]  # the caller's, as given


def test_a_peak_is_the_fastest_call_and_an_average_is_the_mean(monkeypatch):
    # Calls that take 3, 1 and 2 seconds (after one warm-up of 10) on a fake clock.
    durations, clock = iter([10, 3, 1, 2]), [0.0]

    def call():
        clock[0] += next(durations)

    monkeypatch.setattr(bench.time, "perf_counter", lambda: clock[0])
    assert bench.fastest_call(call, repeats=3, warmup=1) == 1
    durations, clock[0] = iter([10, 3, 1, 2]), 0.0
    assert bench.time_calls(call, repeats=3, warmup=1) == 2


# ---- where it writes, checked before it measures ---------------------------------------------

@pytest.fixture
def no_measurement(monkeypatch):
    """A stub backend, and a measurement that must never start before the output checks pass
    (``allow()`` lets it run, returning RESULT at once)."""
    monkeypatch.setattr(bench, "load_backend", lambda name, command: types.SimpleNamespace(
        PRECISIONS=("fp32",)))
    allowed = []

    def measure(*args, **kwargs):
        assert allowed, "measured before checking where the results go"
        return dict(RESULT)

    def sweep(args, shown):
        assert allowed, "swept before checking where the plot goes"
        return [dict(RESULT, batch_size=size) for size in args.batch_sizes]

    monkeypatch.setattr(bench, "measure", measure)
    monkeypatch.setattr(bench, "sweep", sweep)
    return lambda: allowed.append(True)


@pytest.fixture
def read_only_folder(tmpfs):
    return tmpfs("read-only", "ro,size=1m")


@pytest.fixture
def small_disk(tmpfs):
    return tmpfs("small-disk", "size=1m")


@pytest.mark.parametrize("flags", [["--json"], ["--batch-sizes", "8", "16", "--plot"],
                                   ["--batch-sizes", "8", "--json", "ok.json", "--plot"]])
def test_an_output_that_cannot_be_written_is_refused_before_measuring(
        no_measurement, capsys, tmp_path, read_only_folder, monkeypatch, flags):
    monkeypatch.chdir(tmp_path)
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    flag = flags[-1]
    for path, reason in ((blocker / "deep" / "r.png", "Not a directory"),
                         (blocker / "r.png", f"{blocker} is a file, not a folder"),
                         (read_only_folder / "r.png", "Read-only file system")):
        assert bench.main(["--backend", "pytorch", *flags, str(path)]) == 2
        assert capsys.readouterr().err == (f"error: cannot write to {flag} {path} ({reason}): "
                                           "choose a writable place\n")
    assert bench.main(["--backend", "pytorch", *flags, str(tmp_path)]) == 2
    assert capsys.readouterr().err == (f"error: {flag} {tmp_path} is a directory: name a file "
                                       "(in it, say)\n")
    assert sorted(os.listdir(tmp_path)) == ["file", "read-only"]  # not even ok.json's folder


def test_a_plot_matplotlib_cannot_draw_is_refused_before_measuring(no_measurement, capsys,
                                                                    tmp_path, monkeypatch):
    import sys

    for name in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, name, None)  # as if not installed
    assert bench.main(["--backend", "pytorch", "--batch-sizes", "8", "16", "--plot",
                       str(tmp_path / "s.png")]) == 2
    assert capsys.readouterr().err == ("error: matplotlib, which draws the plots, is not "
                                       "installed: pip install matplotlib\n")
    assert os.listdir(tmp_path) == []


def test_outputs_in_a_missing_folder_are_written_there(no_measurement, capsys, tmp_path):
    no_measurement()
    single, sweep = tmp_path / "new" / "single.json", tmp_path / "other" / "sweep"
    assert bench.main(["--backend", "pytorch", "--json", str(single)]) == 0
    assert json.loads(single.read_text())["batch_size"] == RESULT["batch_size"]
    assert bench.main(["--backend", "pytorch", "--batch-sizes", "8", "16", "--json",
                       str(sweep / "sweep.json"), "--plot", str(sweep / "sweep.png")]) == 0
    assert [r["batch_size"] for r in json.loads((sweep / "sweep.json").read_text())] == [8, 16]
    assert (sweep / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("flags, message", [
    (["--plot", "p.png"], "--plot goes with --batch-sizes"),
    (["--out", "dir"], "--out goes with --time-to-accuracy ACC"),
    (["--time-to-accuracy", "0.88", "--json", "r.json"],
     "--json does not go with --time-to-accuracy"),
    (["--time-to-accuracy", "0.88", "--plot", "p.png"],
     "--plot does not go with --time-to-accuracy"),
    (["--momentum", "5"], "--momentum goes with --time-to-accuracy ACC: a throughput"),
    (["--lr", "-1", "--seed", "3"], "--lr, --seed go with --time-to-accuracy ACC"),
    (["--data-dir", "/nonexistent/fashion"],
     "--data-dir /nonexistent/fashion is not a readable directory"),
    (["--data-dir", ".", "--no-end-to-end"], "--data-dir is where the end-to-end run finds "
                                             "Fashion-MNIST, and --no-end-to-end times"),
    (["--data-dir", ".", "--batch-sizes", "8", "16"], "--data-dir is where the end-to-end run "
                                                      "finds Fashion-MNIST, and a sweep times"),
    (["--time-to-accuracy", "0.88", "--eval-every", "inf"],
     "--eval-every must be a positive number of epochs, got inf"),
    (["--eval-every", "-3", "--limit-val", "-1"], "--eval-every, --limit-val go with"),
    (["--warmup", "-1"], "--warmup must be at least 0 (steps left untimed), got -1"),
    (["--time-to-accuracy", "0.88", "--seed", "-1"],
     "--seed must be a whole number from 0 to 4294967295, got -1")])
def test_output_flags_that_would_be_ignored_are_refused(no_measurement, capsys, tmp_path,
                                                        monkeypatch, flags, message):
    monkeypatch.chdir(tmp_path)
    assert bench.main(["--backend", "pytorch", *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message}") and len(err.splitlines()) == 1, err
    assert os.listdir(tmp_path) == []


def fill(disk):
    """Another program fills the disk while the benchmark measures."""
    with open(disk / "filler", "wb") as stream:
        try:
            while True:
                stream.write(b"\0" * 65536)
                stream.flush()
        except OSError:
            pass


def test_a_disk_that_fills_while_measuring_loses_no_results(no_measurement, monkeypatch, capsys,
                                                             tmp_path, small_disk):
    no_measurement()
    measured = bench.measure
    monkeypatch.setattr(bench, "measure", lambda *a, **k: (fill(small_disk), measured())[1])
    monkeypatch.setattr(bench.tempfile, "gettempdir", lambda: str(tmp_path))
    path = small_disk / "result.json"
    assert bench.main(["--backend", "pytorch", "--json", str(path)]) == 1
    fallback = tmp_path / f"d2l_alexnet-bench-{os.getpid()}.json"
    assert capsys.readouterr().err == (f"error: cannot write {path} (the disk is full); the "
                                       f"results were saved to {fallback} instead\n")
    assert json.loads(fallback.read_text()) == RESULT
    assert os.listdir(small_disk) == ["filler"]  # no partial file
    # A sweep whose JSON was written before its plot failed: the JSON has the numbers.
    os.remove(small_disk / "filler")
    sweep = bench.sweep
    monkeypatch.setattr(bench, "sweep",
                        lambda args, shown: (fill(small_disk), sweep(args, shown))[1])
    plot = small_disk / "sweep.png"
    assert bench.main(["--backend", "pytorch", "--batch-sizes", "8", "--json",
                       str(tmp_path / "sweep.json"), "--plot", str(plot)]) == 1
    assert capsys.readouterr().err == (f"error: cannot write {plot} (the disk is full); the "
                                       f"results are safe in {tmp_path / 'sweep.json'}\n")


class FullStdout(io.StringIO):
    """A stdout on a full disk (a log that filled while the bench measured)."""

    def write(self, text):
        raise OSError(errno.ENOSPC, "No space left on device")


def test_a_stdout_that_fails_loses_no_measurement(no_measurement, monkeypatch, capsys,
                                                  tmp_path):
    """The table was printed before the results were written: a stdout that failed there (a
    log on a full disk, a reader that quit) lost a finished measurement, sweep or single."""
    no_measurement()
    monkeypatch.chdir(tmp_path)  # where the sweep draws its default plot
    monkeypatch.setattr(sys, "stdout", FullStdout())
    for flags in (["--json", str(tmp_path / "one.json")],
                  ["--batch-sizes", "8", "16", "--json", str(tmp_path / "sweep.json")]):
        assert bench.main(["--backend", "pytorch", *flags]) == 1
        assert capsys.readouterr().err == "error: cannot write to stdout (the disk is full)\n"
    assert json.loads((tmp_path / "one.json").read_text()) == RESULT
    assert [result["batch_size"] for result in json.loads(
        (tmp_path / "sweep.json").read_text())] == [8, 16]


@pytest.mark.parametrize("flags, message", [
    (["--time-to-accuracy", "0.88", "--steps", "3", "--no-end-to-end"],
     "--steps, --no-end-to-end go with a throughput measurement"),
    (["--time-to-accuracy", "0.88", "--batch-sizes", "2", "4", "--warmup", "0"],
     "--batch-sizes, --warmup go with a throughput measurement"),
    (["--data-on-device", "on", "--no-end-to-end"],
     "--data-on-device on places the end-to-end run's data, which --no-end-to-end skips"),
    (["--backend", "tensorflow", "--data-on-device", "on", "--no-end-to-end"],
     "--data-on-device on places the end-to-end run's data"),
    (["--data-on-device", "off", "--batch-sizes", "2"],
     "--data-on-device off goes with the end-to-end run, and --batch-sizes runs none"),
    (["--batch-sizes", "2", "--plot", "sweep.svg"], "--plot sweep.svg must end in .png"),
    (["--batch-sizes", "2", "--json", "same.out", "--plot", "same.png", "--json", "same.png"],
     "--json same.png and the plot same.png are one file"),
    (["--batch-sizes", "2", "--json", "bench-pytorch-fp32.png"],
     "--json bench-pytorch-fp32.png and the plot bench-pytorch-fp32.png are one file"),
    (["--batch-sizes", "2", "--compile", "--json", "bench-pytorch-fp32-compiled.png"],
     "--json bench-pytorch-fp32-compiled.png and the plot bench-pytorch-fp32-compiled.png are "
     "one file"),
    (["--batch-sizes", "2", "4", "--batch-size", "8"],
     "--batch-size goes with one measurement: a sweep measures the sizes --batch-sizes names"),
    (["--json", ""], "--json needs a file name"),
    (["--batch-sizes", "2", "--plot", ""], "--plot needs a file name")])
def test_flags_a_measurement_would_ignore_or_misuse_are_refused_before_it(
        no_measurement, capsys, tmp_path, monkeypatch, flags, message):
    monkeypatch.chdir(tmp_path)
    assert bench.main(flags) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message}") and len(err.splitlines()) == 1, err
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("stop, status, line", [
    (DeviceError("--device gpu: no GPU is visible; use --device cpu or auto"), 2,
     "error: --device gpu: no GPU is visible; use --device cpu or auto\n"),
    (lambda: (os.kill(os.getpid(), signal.SIGINT), time.sleep(30)), 130,
     "interrupted by SIGINT: nothing was measured to the end, nothing written\n"),
    (lambda: (os.kill(os.getpid(), signal.SIGTERM), time.sleep(30)), 143,
     "interrupted by SIGTERM: nothing was measured to the end, nothing written\n")])
def test_a_measurement_refused_or_stopped_leaves_no_folder_and_one_line(
        no_measurement, monkeypatch, capsys, tmp_path, stop, status, line):
    def measure(*args, **kwargs):
        if isinstance(stop, Exception):
            raise stop
        stop()

    monkeypatch.setattr(bench, "measure", measure)
    assert bench.main(["--json", str(tmp_path / "new" / "deeper" / "r.json")]) == status
    assert capsys.readouterr().err == line
    assert os.listdir(tmp_path) == []


def test_a_stopped_measurement_leaves_the_folder_another_bench_writes_into(
        no_measurement, monkeypatch, capsys, tmp_path):
    """Two benches with --json in one new folder: the first, stopped or refused, removed the
    folder it had made, which the second (still measuring) then could not write into (its
    results went to a temporary file, exit 1)."""
    shared = tmp_path / "shared"

    def measure(*args, **kwargs):
        assert not shared.exists()  # proven writable, not held empty through the measurement
        shared.mkdir()  # another bench, measuring into it too
        raise DeviceError("--device gpu: no GPU is visible; use --device cpu or auto")

    monkeypatch.setattr(bench, "measure", measure)
    assert bench.main(["--json", str(shared / "a.json")]) == 2
    assert shared.is_dir()
    capsys.readouterr()
    monkeypatch.setattr(bench, "measure", lambda *args, **kwargs: {"fake": 1})
    monkeypatch.setattr(bench, "format_result", lambda output: "measured")
    assert bench.main(["--json", str(tmp_path / "new" / "deeper" / "b.json")]) == 0
    assert json.loads((tmp_path / "new" / "deeper" / "b.json").read_text()) == {"fake": 1}


FAKE_CHILD = """
import json, os, signal, sys, time
argv = sys.argv[1:]
size, path = int(argv[argv.index("--batch-size") + 1]), argv[argv.index("--json") + 1]
print(f"pytorch: measuring batch {size}", file=sys.stderr, flush=True)
if size == FAIL:
    print(f"error: out of memory at batch size {size}: use a smaller --batch-size (try "
          f"{size // 2})", file=sys.stderr)
    sys.exit(1)
if size == STOP:
    os.kill(os.getppid(), signal.SIGINT)  # as a Ctrl-C reaching the sweep
    time.sleep(30)
with open(path, "w") as stream:
    json.dump(dict(RESULT, batch_size=size), stream)
print(f"a table\\nwrote {path}")
"""


@pytest.fixture
def fake_children(monkeypatch, tmp_path):
    """A sweep whose children are a script that writes RESULT for each size, fails at size
    ``fail`` as an out of memory does, and at size ``stop`` interrupts the sweep."""
    monkeypatch.setattr(bench, "load_backend", lambda name, command: types.SimpleNamespace(
        PRECISIONS=("fp32",)))
    monkeypatch.setattr(bench, "CHILD_EXIT_SECONDS", 0.5)

    def children(fail=None, stop=None):
        script = tmp_path / "child.py"
        script.write_text(f"RESULT = {RESULT!r}\nFAIL, STOP = {fail}, {stop}\n" + FAKE_CHILD)
        popen = bench.subprocess.Popen
        monkeypatch.setattr(bench.subprocess, "Popen", lambda command, **kwargs: popen(
            [command[0], str(script), *command[3:]], **kwargs))

    return children


def test_a_sweep_keeps_the_sizes_that_finished_when_one_fails(fake_children, capsys,
                                                              tmp_path):
    fake_children(fail=40000)
    out = tmp_path / "out"
    assert bench.main(["--batch-sizes", "2", "8", "40000", "--json", str(out / "s.json"),
                       "--plot", str(out / "s.png")]) == 1
    assert [r["batch_size"] for r in json.loads((out / "s.json").read_text())] == [2, 8]
    assert (out / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    captured = capsys.readouterr()
    # Each size's table once, the wrote lines of files that exist only.
    assert captured.out.count("AlexNet pytorch on cpu, fp32, batch 2,") == 1
    assert "a table" not in captured.out and "child" not in captured.out
    assert [line for line in captured.out.splitlines() if line.startswith("wrote")] == [
        f"wrote {out / 's.json'}", f"wrote {out / 's.png'}"]
    assert captured.err.splitlines() == [
        "pytorch: measuring batch 2", "pytorch: measuring batch 8",
        "pytorch: measuring batch 40000",
        "error: batch size 40000 failed (out of memory at batch size 40000: use a smaller "
        f"--batch-size (try 20000)); the sizes that finished (2, 8) are in {out / 's.json'} "
        f"and {out / 's.png'}"]


def test_a_sweep_whose_first_size_fails_writes_nothing(fake_children, capsys, tmp_path):
    fake_children(fail=2)
    assert bench.main(["--batch-sizes", "2", "8", "--plot", str(tmp_path / "new" / "s.png")]
                      ) == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        "error: batch size 2 failed (out of memory at batch size 2: use a smaller --batch-size "
        "(try 1)); no size finished, nothing was written")
    assert sorted(os.listdir(tmp_path)) == ["child.py"]


def test_a_sweep_stopped_by_ctrl_c_keeps_the_sizes_that_finished(fake_children, capsys,
                                                                tmp_path):
    fake_children(stop=8)
    plot = tmp_path / "s.png"
    assert bench.main(["--batch-sizes", "2", "8", "16", "--plot", str(plot)]) == 130
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"interrupted by SIGINT at batch size 8; the sizes that finished (2) are in {plot}")


def test_the_table_has_the_first_inference_beside_the_first_step():
    text = bench.format_result(dict(RESULT, first_step_seconds=41.5,
                                    first_inference_seconds=7.25))
    assert "first inference" in text and "7.25 s" in text


def checkpoint_of(curve, epoch, batch=0):
    return types.SimpleNamespace(metadata={"epoch": epoch, "batch": batch,
                                           bench.PROGRESS_KEY: {"curve": curve}})


def test_a_run_has_ended_at_its_target_or_its_last_epoch():
    point = {"val_acc": 0.9, "epochs": 1.5, "step": 12}
    assert bench.run_has_ended(checkpoint_of([point], 1, 4), 0.88, 3) == (
        "it reached val_acc 0.9000 >= 0.88 after 1.50 epochs")
    assert bench.run_has_ended(checkpoint_of([point], 1, 4), 0.95, 3) is None
    assert bench.run_has_ended(checkpoint_of([point], 3), 0.95, 3) == (
        "it has finished 3 epoch(s), --epochs is 3")
    assert bench.run_has_ended(checkpoint_of([point], 3), 0.95, 4) is None  # more epochs asked


def test_a_json_holds_the_result_of_a_checkpoint_only_with_its_very_curve(tmp_path):
    curve = [{"val_acc": 0.5, "seconds": 10.123456789}]
    path = tmp_path / "time-to-accuracy.json"
    assert not bench.holds_result_of(path, checkpoint_of(curve, 1))
    path.write_text(json.dumps({"curve": curve}))
    assert bench.holds_result_of(path, checkpoint_of(curve, 1))
    assert not bench.holds_result_of(path, checkpoint_of([dict(curve[0], seconds=10.1)], 1))


# ---- the time to accuracy on the core's numpy backend ----------------------------------------

@pytest.fixture
def numpy_bench(monkeypatch, tmp_path):
    """``bench.time_to_accuracy`` on the core's numpy backend, where no full Fashion-MNIST is to
    be found (no cache, system copy or mirror): the package's subset is what loads."""
    import numpy_backend
    from d2l_alexnet.core import data

    monkeypatch.delenv(data.ENV_DATA_DIR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(data, "DEFAULT_MIRRORS", ())
    monkeypatch.setattr(data, "DEFAULT_SYSTEM_DIRS", (str(tmp_path / "no-system"),))
    monkeypatch.setattr(bench, "load_backend", lambda name, command: numpy_backend)
    return numpy_backend


def test_a_time_to_accuracy_on_the_shipped_subset_is_refused_unless_limited(numpy_bench):
    """Trained on the 3,000-image subset, a time to accuracy measures nothing of the chapter's:
    without a limit (a quick check) it is refused naming how to get the full set; with one
    it says so and its JSON records where the data came from."""
    from d2l_alexnet.cli import UsageError
    from d2l_alexnet.core.recipe import CHAPTER

    lines = []
    with pytest.raises(UsageError, match="the full Fashion-MNIST was not found, and a time to "
                                         "accuracy on the 3,000-image subset .* allow the "
                                         "download .* --limit-train N for a quick check"):
        bench.time_to_accuracy("pytorch", 0.99, CHAPTER, 1, batch_size=100, resize=28,
                               log=lines.append)
    result = bench.time_to_accuracy("pytorch", 0.99, CHAPTER, 1, batch_size=100, resize=28,
                                    eval_every=1, limit_train=200, limit_val=100,
                                    log=lines.append)
    assert result["data_is_subset"] and result["data_source"] == "embedded subset"
    assert any("a quick check, not a result" in line for line in lines)


def test_a_download_is_left_out_of_the_time_to_accuracy(numpy_bench, monkeypatch):
    """The clock skips what the data's download took (the network's time, not the recipe's),
    in the total, the curve and the start-up's data lap."""
    from d2l_alexnet.core.recipe import CHAPTER

    class Downloaded(numpy_bench.FashionMNIST):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            time.sleep(0.5)  # as a download would take, and report
            self.download_seconds = 0.5

    monkeypatch.setattr(numpy_bench, "FashionMNIST", Downloaded)
    result = bench.time_to_accuracy("pytorch", 0.99, CHAPTER, 1, batch_size=100, resize=28,
                                    eval_every=1, limit_train=200, limit_val=100,
                                    log=lambda line: None)
    assert result["startup_seconds"]["data"] < 0.4
    assert result["curve"][0]["seconds"] < result["seconds_total"] < 0.5 + 5
    assert result["seconds_total"] < sum(result["startup_seconds"].values()) + 5


def test_a_time_to_accuracy_whose_stdout_fails_writes_its_result_and_checkpoint(
        numpy_bench, monkeypatch, tmp_path, capsys):
    """Its evaluation line was printed before the target was checked: a stdout that failed
    there ended the run at its target with neither its result nor its checkpoint."""
    monkeypatch.setattr(sys, "stdout", FullStdout())
    out, checkpoints = tmp_path / "out", tmp_path / "ckpt"
    assert bench.main(["--time-to-accuracy", "0.05", "--epochs", "1", "--batch-size", "100",
                       "--resize", "67", "--limit-train", "200", "--limit-val", "100",
                       "--out", str(out), "--checkpoint-dir", str(checkpoints)]) == 1
    assert capsys.readouterr().err.endswith("error: cannot write to stdout (the disk is "
                                            "full)\n")
    assert json.loads((out / "time-to-accuracy.json").read_text())["reached"]
    assert list(checkpoints.glob("*.ckpt"))


def test_a_time_to_accuracy_stopped_before_it_wrote_leaves_no_folder(numpy_bench, monkeypatch,
                                                                      tmp_path, capsys):
    """A Ctrl-C in the first epoch, before any result or checkpoint: the folders the run made
    for them are gone (only empty ones; a run that wrote keeps its folder)."""
    monkeypatch.setattr(numpy_bench.NumpyTrainer, "signal_at_step", (1, signal.SIGINT))
    out = tmp_path / "made" / "here"
    assert bench.main(["--time-to-accuracy", "0.99", "--epochs", "1", "--batch-size", "100",
                       "--resize", "67", "--limit-train", "200", "--limit-val", "100",
                       "--out", str(out)]) == 130
    assert "interrupted by SIGINT" in capsys.readouterr().err
    assert not (tmp_path / "made").exists()


def test_a_time_to_accuracy_stopped_in_a_mid_epoch_evaluation_does_it_on_resuming(
        numpy_bench, monkeypatch, tmp_path):
    """Saved at the step whose evaluation the stop cut short, the resumed run went on from the
    next step, and that evaluation never came: the curve lacked a point an unbroken run has."""
    from d2l_alexnet.core.checkpoint import latest_checkpoint
    from d2l_alexnet.core.recipe import CHAPTER
    from d2l_alexnet.train import Interrupted

    def run(folder, resume_from=None):
        return bench.time_to_accuracy("pytorch", 0.99, CHAPTER, 2, batch_size=100, resize=28,
                                      eval_every=0.5, limit_train=200, limit_val=300,
                                      log=lambda line: None, checkpoint_dir=folder,
                                      resume_from=resume_from)

    straight = run(tmp_path / "straight")
    assert [point["step"] for point in straight["curve"]] == [1, 2, 3, 4]
    evaluate = numpy_bench.NumpyTrainer.eval_step

    def stopped_in_the_first(trainer, batch):
        if trainer.step == 1 and not trainer.stop_spent and trainer.stop_requested is None:
            trainer.stop_requested = "SIGTERM"
        return evaluate(trainer, batch)

    monkeypatch.setattr(numpy_bench.NumpyTrainer, "eval_step", stopped_in_the_first)
    with pytest.raises(Interrupted):
        run(tmp_path / "stopped")
    monkeypatch.setattr(numpy_bench.NumpyTrainer, "eval_step", evaluate)
    resumed = run(tmp_path / "stopped", latest_checkpoint(tmp_path / "stopped", log=None))
    assert [(point["step"], point["val_acc"]) for point in resumed["curve"]] == [
        (point["step"], point["val_acc"]) for point in straight["curve"]]
