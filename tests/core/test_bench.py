"""The benchmark's framework-free parts: refusals, the table and the sweep plot."""

from d2l_alexnet import bench

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


CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Processor
flags\t\t: fpu sse2 avx512f avx512_bf16 amx_bf16 amx_tile amx_int8

processor\t: 1
model name\t: Intel(R) Xeon(R) Processor
flags\t\t: fpu sse2 avx512f avx512_bf16 amx_bf16 amx_tile amx_int8
"""


def test_the_cpu_and_its_bf16_instructions_are_recorded(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(CPUINFO)
    assert bench.cpu_description(str(path)) == (
        "Intel(R) Xeon(R) Processor", ["avx512f", "avx512_bf16", "amx_bf16", "amx_tile"])
    path.write_text(CPUINFO.replace(" avx512f avx512_bf16 amx_bf16 amx_tile amx_int8", ""))
    assert bench.cpu_description(str(path)) == ("Intel(R) Xeon(R) Processor", [])
    model, features = bench.cpu_description(str(tmp_path / "absent"))  # not Linux
    assert features is None


def test_sweep_plot_is_a_png(tmp_path):
    results = [dict(RESULT, batch_size=size, step_images_per_sec=size ** 0.5)
               for size in (16, 32, 64)]
    path = tmp_path / "sweep.png"
    bench.plot_sweep(results, str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_peak_is_the_fastest_call_and_an_average_is_the_mean(monkeypatch):
    # Calls that take 3, 1 and 2 seconds (after one warm-up of 10) on a fake clock.
    durations, clock = iter([10, 3, 1, 2]), [0.0]

    def call():
        clock[0] += next(durations)

    monkeypatch.setattr(bench.time, "perf_counter", lambda: clock[0])
    assert bench.fastest_call(call, repeats=3, warmup=1) == 1
    durations, clock[0] = iter([10, 3, 1, 2]), 0.0
    assert bench.time_calls(call, repeats=3, warmup=1) == 2
