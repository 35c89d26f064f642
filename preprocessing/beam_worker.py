"""Beam's Python SDK worker, started by the preprocessing job's FnApiRunner, that exits
when the job's process is gone.

Beam's own worker (`apache_beam.runners.worker.sdk_worker_main`) outlives a killed job
for minutes, holding ~180 MB each, until its gRPC channel times out. This one watches the
job's process id (given on its command line) once a second and exits as soon as it is
gone, so `kill -9` of a preprocessing job leaves no worker behind.

    python -m preprocessing.beam_worker --job_pid PID   (Beam runs it; not a user tool)
"""
from preprocessing import cli

if __name__ == "__main__":  # run as a tool: quiet before TensorFlow or Beam loads
    cli.quiet_unless_verbose()

import os
import sys
import threading
import time


def job_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a process we may not signal exists
        return True
    return True


def exit_with_job(pid, period=1.0):
    """Ends this process (without cleanup: the job that would read its results is gone)
    once `pid` no longer exists."""
    while job_alive(pid):
        time.sleep(period)
    os._exit(1)


def command_line(job_pid=None):
    """The worker command FnApiRunner's subprocess environment runs."""
    return (f"{sys.executable} -m preprocessing.beam_worker "
            f"--job_pid {os.getpid() if job_pid is None else job_pid}")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) >= 2 and argv[0] == "--job_pid":
        threading.Thread(target=exit_with_job, args=(int(argv[1]),), daemon=True).start()
    from apache_beam.runners.worker import sdk_worker_main
    sdk_worker_main.main(sys.argv)


if __name__ == "__main__":
    main()
