"""The CPU's features, read without a framework, and the precision they make worth using."""

from d2l_alexnet.core.hardware import cpu_description, cpu_precision

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
    assert cpu_description(str(path)) == (
        "Intel(R) Xeon(R) Processor", ["avx512f", "avx512_bf16", "amx_bf16", "amx_tile"])
    path.write_text(CPUINFO.replace(" avx512f avx512_bf16 amx_bf16 amx_tile amx_int8", ""))
    assert cpu_description(str(path)) == ("Intel(R) Xeon(R) Processor", [])
    model, features = cpu_description(str(tmp_path / "absent"))  # not Linux
    assert features is None


def test_bf16_is_chosen_only_where_the_cpu_computes_it_natively(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(CPUINFO)  # AMX
    assert cpu_precision(str(path)) == "bf16"
    path.write_text(CPUINFO.replace(" amx_bf16 amx_tile amx_int8", ""))  # AVX-512 BF16 alone
    assert cpu_precision(str(path)) == "bf16"
    path.write_text(CPUINFO.replace(" avx512_bf16 amx_bf16 amx_tile amx_int8", ""))  # AVX-512
    assert cpu_precision(str(path)) == "fp32"
    path.write_text(CPUINFO.replace(" avx512f avx512_bf16 amx_bf16 amx_tile amx_int8",
                                    " avx2 fma"))  # an AVX2-only EPYC, as this project's CI
    assert cpu_precision(str(path)) == "fp32"
    assert cpu_precision(str(tmp_path / "absent")) == "fp32"  # not Linux: nothing to go by
