import os
import threading

import pytest

from copmatch.ranking.overlap import in_background, right_away


def test_background_work_runs_off_the_callers_thread_and_returns_its_result():
    total, thread = in_background(lambda a, b: (a + b, threading.current_thread()), 2, 3).result(timeout=10)
    assert total == 5 and thread is not threading.current_thread()


def test_background_work_raises_its_error_in_the_caller():
    def fails() -> None:
        raise ValueError("bad query")

    with pytest.raises(ValueError, match="bad query"):
        in_background(fails).result(timeout=10)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_gets_a_pool_of_its_own():
    # The parent's pool threads do not survive a fork; a child reusing its bookkeeping would
    # wait forever on the first submit.
    assert in_background(os.getpid).result(timeout=10) == os.getpid()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        try:
            ok = in_background(os.getpid).result(timeout=10) == os.getpid()
        except BaseException:
            ok = False
        os._exit(0 if ok else 1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_right_away_runs_on_the_callers_thread_and_keeps_its_error():
    assert right_away(threading.current_thread).result() is threading.current_thread()
    with pytest.raises(ZeroDivisionError):
        right_away(lambda: 1 / 0).result()
