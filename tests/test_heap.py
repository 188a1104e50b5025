"""wmhseg.heap.retain_freed_memory: freed large blocks are reused instead of faulted in again (glibc)."""

from __future__ import annotations

import json
import platform
import subprocess
import sys

import pytest

BLOCKS_MB = (32, 64, 16, 48)
STEPS = 8
PROBE = f"""
import json, resource, sys
import torch
if sys.argv[1] == "retain":
    from wmhseg.heap import retain_freed_memory
    assert retain_freed_memory()
faults = []
for _ in range({STEPS}):  # a step's activations: large tensors allocated, written and freed again
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    blocks = [torch.ones(mb * 2**17, dtype=torch.float64) for mb in {BLOCKS_MB}]
    del blocks
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(json.dumps(faults))
"""


def faults_per_step(mode: str) -> list[int]:
    """Minor page faults of each step in a fresh process, with glibc's defaults or after retain_freed_memory()."""
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True).stdout
    return json.loads(out)


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc's mallopt")
def test_freed_blocks_are_reused_without_new_page_faults():
    pages = sum(BLOCKS_MB) * 2**20 // 4096
    default = faults_per_step("default")
    retained = faults_per_step("retain")
    # glibc's default maps every large block afresh: each step faults in all its pages again
    assert min(default[1:]) > 0.8 * pages
    # retained: the first step grows the heap, the later ones reuse most of it (on glibc 2.36, 0-40 % of a
    # step's pages fault, varying from run to run with where the blocks land)
    assert retained[0] > 0.8 * pages
    assert sum(retained[1:]) < 0.5 * sum(default[1:])
