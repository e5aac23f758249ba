"""machine.json: the setting a result was measured in (docs/benchmarking.md).

Date, git revision, CPU model, cores, kernel, the pinning, and the version of
every server and tool, so that two result directories can be compared with
their differences in plain view.
"""

import datetime
import os
import platform
import socket
import subprocess
from typing import Dict, List, Optional, Tuple


def _run(argv: List[str], cwd: Optional[str] = None) -> str:
    try:
        done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              cwd=cwd, timeout=10, check=False)
        return done.stdout.decode("utf-8", "replace").strip() if done.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_revision(root: str) -> Dict:
    """HEAD, and whether the code differs from it. Results and Markdown are
    not code: a run made while earlier results wait to be committed measured
    the committed code."""
    rev = _run(["git", "rev-parse", "HEAD"], cwd=root)
    dirty = bool(_run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                       ":(exclude)results", ":(exclude)*.md"], cwd=root))
    return {"revision": rev or "unknown", "dirty": dirty}


def os_name() -> str:
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.system()


def split_cpus(cpus: List[int]) -> Tuple[List[int], List[int], str]:
    """(server cpus, client cpus, note): halves, the server on the lower half.

    On 2 cores this is `taskset -c 0` for the server, `taskset -c 1` for the client.
    """
    cpus = sorted(cpus)
    if len(cpus) < 2:
        return cpus, cpus, "only one core: server and client share it; numbers are not comparable"
    half = len(cpus) // 2
    return cpus[:half], cpus[half:], ""


def cpu_list(cpus: List[int]) -> str:
    return ",".join(str(c) for c in cpus)


def parse_cpu_list(text: str) -> List[int]:
    """'0-3,6' -> [0, 1, 2, 3, 6]."""
    cpus = []
    for part in text.split(","):
        part = part.strip()
        if "-" in part:
            lo, hi = part.split("-")
            cpus.extend(range(int(lo), int(hi) + 1))
        elif part:
            cpus.append(int(part))
    return cpus


def tool_versions(tools) -> Dict[str, str]:
    versions = {}
    if tools.ab:
        out = _run([tools.ab, "-V"])
        versions["ab"] = out.splitlines()[0] if out else "unknown"
    if tools.wrk:
        try:
            done = subprocess.run([tools.wrk, "-v"], stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, timeout=10, check=False)
            versions["wrk"] = done.stdout.decode("utf-8", "replace").splitlines()[0]
        except (OSError, subprocess.SubprocessError, IndexError):
            versions["wrk"] = "unknown"
    if tools.loadgen:
        out = _run([tools.loadgen, "--version"])
        versions["loadgen"] = (out.splitlines()[0] if out else "built") + " (%s)" % tools.loadgen
    perf = _run(["perf", "--version"])
    if perf:
        versions["perf"] = perf
    try:
        import matplotlib  # pylint: disable=import-outside-toplevel

        versions["matplotlib"] = matplotlib.__version__
    except ImportError:
        pass
    versions["python"] = platform.python_version()
    return versions


def describe(root: str, server_cpus: List[int], client_cpus: List[int], pin_note: str,
             tools, settings: Dict, argv: List[str]) -> Dict:
    now = datetime.datetime.now().astimezone()
    return {
        "schema": "hellepoll-machine/1",
        "date": now.strftime("%Y-%m-%d"),
        "started_at": now.isoformat(timespec="seconds"),
        "finished_at": None,
        "host": socket.gethostname(),
        "git": git_revision(root),
        "cpu": {
            "model": cpu_model(),
            "cores_online": os.cpu_count(),
            "cores_usable": len(os.sched_getaffinity(0)),
        },
        "kernel": platform.release(),
        "kernel_version": platform.version(),
        "os": os_name(),
        "pinning": {
            "server_cpus": cpu_list(server_cpus),
            "client_cpus": cpu_list(client_cpus),
            "server_workers": 1,
            "client_threads": 1,
            "how": "taskset -c <cpus> for every server process and every client",
            "note": pin_note,
        },
        "tools": tool_versions(tools),
        "settings": settings,
        "command": argv,
        "servers": {},
    }


def raise_fd_limit() -> None:
    """Soft descriptor limit up to the hard one; child processes inherit it."""
    import resource  # pylint: disable=import-outside-toplevel
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
