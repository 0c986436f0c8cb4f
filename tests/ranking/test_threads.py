"""One BLAS thread for numpy in a process that answers queries: set from a request thread, it
holds in every thread, FAISS's threads are left alone, and products keep their values."""

from __future__ import annotations

import json
import subprocess
import sys

# In a fresh process: the limit is process-wide and permanent by design.
SCENARIO = """
import json, threading
import numpy as np
import faiss
from threadpoolctl import threadpool_info
from copmatch.ranking.threads import one_blas_thread

def numpy_blas():
    return [lib["num_threads"] for lib in threadpool_info() if "numpy" in lib["filepath"]]

vectors = np.random.default_rng(0).standard_normal((2000, 64)).astype(np.float32)
before, expected, omp = numpy_blas(), vectors @ vectors[0], faiss.omp_get_max_threads()
seen = {}
def request():
    one_blas_thread()
    one_blas_thread()  # idempotent
    seen["thread"] = numpy_blas()
    seen["same"] = bool(np.array_equal(vectors @ vectors[0], expected))
thread = threading.Thread(target=request)
thread.start()
thread.join()
print(json.dumps({"before": before, "after": numpy_blas(), "omp": [omp, faiss.omp_get_max_threads()], **seen}))
"""


def test_one_blas_thread_holds_in_every_thread_of_the_process():
    done = subprocess.run([sys.executable, "-c", SCENARIO], capture_output=True, text=True, timeout=120, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["before"] and result["thread"] == [1] * len(result["before"]) == result["after"]
    assert result["same"]
    assert result["omp"][0] == result["omp"][1]  # FAISS's OpenMP threads untouched
