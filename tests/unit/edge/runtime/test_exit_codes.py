"""Exit codes as kubelet reports them: death by signal n is 128+n; a process that cannot
start is containerd's 128/StartError with runc's wording."""

from __future__ import annotations

import errno
import os
import signal
import subprocess

import pytest

from kubeedge.edge.runtime.supervisor import exit_code_of, exit_reason, start_error_message


def _wait_status(*argv: str, sig: int | None = None) -> int:
    proc = subprocess.Popen(argv)
    if sig is not None:
        os.kill(proc.pid, sig)
    _, status = os.waitpid(proc.pid, 0)
    proc.returncode = 0  # reaped above
    return status


def test_normal_exit_keeps_its_code() -> None:
    assert exit_code_of(_wait_status("sh", "-c", "exit 3")) == (3, 0)
    assert exit_code_of(_wait_status("true")) == (0, 0)


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGKILL, 137), (signal.SIGTERM, 143),
                                           (signal.SIGINT, 130)])
def test_death_by_signal_is_128_plus_n(sig: int, code: int) -> None:
    assert exit_code_of(_wait_status("sleep", "30", sig=sig)) == (code, sig)


def test_reasons_follow_containerd() -> None:
    assert exit_reason(0, False) == "Completed"
    assert exit_reason(3, False) == "Error"
    assert exit_reason(137, True) == "OOMKilled"


def test_start_error_messages_follow_runc() -> None:
    enoent = OSError(errno.ENOENT, "No such file or directory", "nope")
    assert start_error_message(["nope"], "/", enoent) == \
        'exec: "nope": executable file not found in $PATH'
    assert start_error_message(["/x/nope"], "/", enoent) == \
        'exec: "/x/nope": stat /x/nope: no such file or directory'
    eacces = OSError(errno.EACCES, "Permission denied", "/etc/passwd")
    assert start_error_message(["/etc/passwd"], "/", eacces) == \
        'exec: "/etc/passwd": permission denied'
    chdir = OSError(errno.ENOENT, "No such file or directory", "/nowhere")
    assert "chdir to cwd (\"/nowhere\")" in start_error_message(["sh"], "/nowhere", chdir)
