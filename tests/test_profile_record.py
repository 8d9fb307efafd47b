"""benchmarks/profile_record.py reads oneDNN's verbose lines as they are printed: the primitive
exec lines only, their kernel, direction, problem and time; and it refuses to report a profile
where it read none, since a format it does not know would otherwise read as a step spent
entirely outside oneDNN."""

from __future__ import annotations

import sys

import pytest
from helpers import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import profile_record  # a script beside its own `common`, not a package

# Lines as oneDNN 3.7 prints them under ONEDNN_VERBOSE=1 (from a run of the script).
CONVOLUTION = (
    "onednn_verbose,v1,primitive,exec,cpu,convolution,brg_conv_fwd:avx512_core_bf16,forward_training,"
    "src:bf16::blocked:acdb::f0 wei:bf16:a:blocked:AcdB16b32a2b::f0 bia:undef::undef::: dst:bf16::blocked:acdb::f0,"
    "attr-scratchpad:user,alg:convolution_direct,mb512_ic32oc128_ih15oh15kh3sh1dh0ph1_iw15ow15kw3sw1dw0pw1,23.27"
)
REORDER = (
    "onednn_verbose,v1,primitive,exec,cpu,reorder,jit:uni,undef,"
    "src:f32::blocked:cdba::f0 dst:f32::blocked:Acdb32a::f0,,,32x16x3x3,0.134033"
)
NOT_EXEC = [
    "onednn_verbose,v1,info,oneDNN v3.7.3 (commit N/A)",
    "onednn_verbose,v1,primitive,info,template:operation,engine,primitive,implementation,prop_kind,"
    "memory_descriptors,attributes,auxiliary,problem_desc,exec_time",
    "onednn_verbose,v1,graph,exec,cpu,100002,sdp,,undef,,,f32,dnnl_backend,0.5",
    "Epoch 1/1",
]


def test_it_reads_the_exec_lines_and_nothing_else():
    found = profile_record.primitives([*NOT_EXEC[:2], CONVOLUTION, NOT_EXEC[2], REORDER, NOT_EXEC[3]])
    assert found == [
        {
            "kind": "convolution",
            "implementation": "brg_conv_fwd:avx512_core_bf16",
            "direction": "forward_training",
            "problem": "mb512_ic32oc128_ih15oh15kh3sh1dh0ph1_iw15ow15kw3sw1dw0pw1",
            "ms": 23.27,
        },
        {"kind": "reorder", "implementation": "jit:uni", "direction": "undef", "problem": "32x16x3x3", "ms": 0.134033},
    ]


def test_a_format_it_does_not_know_is_refused_not_read_as_nothing():
    without_version = CONVOLUTION.replace("onednn_verbose,v1,", "onednn_verbose,")
    with_timestamp = CONVOLUTION.replace("onednn_verbose,v1,", "onednn_verbose,v1,1796692280.5,")
    with pytest.raises(ValueError, match="no oneDNN primitive was timed"):
        profile_record.primitives([*NOT_EXEC, without_version, with_timestamp])
