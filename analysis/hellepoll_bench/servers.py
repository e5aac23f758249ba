"""Servers under test: what each one is, how to start it pinned, how much CPU it used.

A ServerSpec describes a server (our variants here, the peers in peers.py);
RunningServer owns one started instance: its process group, its log, its
temporary config directory, and the readiness check. CPU time is read from
/proc/PID/stat for every process of the server's tree, so multi-process
servers (nginx master + worker, our *_procs variants) are counted whole.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from typing import Dict, List, Optional, Tuple

from .variants import DECLARED

EXPECTED_BODY = b"Hello World"
CLK_TCK = os.sysconf("SC_CLK_TCK")


class ServerSpec:
    """One server to measure. Subclasses fill in available(), version() and command()."""

    name = ""
    kind = "peer"  # "variant" or "peer"
    label = ""  # display name
    # Why it cannot serve a scenario that closes each connection (ab without -k),
    # or "" when it can. Such pairs are left out of the plan and shown as "n/a".
    keepalive_only = ""
    # Seconds of load the server needs before its figures settle (a JIT compiling
    # its request path), or 0 when the run's own warm-up is enough: the runner
    # warms it up for the longer of the two. --quick keeps its short warm-up and
    # prints cold_note beside the server's figures instead.
    min_warmup_s = 0.0
    # Why a --quick run's figures for this server are not its settled ones, or "".
    cold_note = ""
    # A known reason why a pipelined run against it is invalid, printed beside
    # that row (which shows "invalid", never a throughput), or "".
    pipeline_note = ""
    # The static-* scenarios' tree (static_files.Tree.root), set by the runner
    # before command(): the server must then also answer GET /static/<name>
    # with <static_root>/static/<name>.
    static_root: Optional[str] = None
    # Why it cannot serve those files, or "" when it can. Such pairs are left
    # out of the static-* scenarios and shown as "n/a".
    no_files = ""
    # What it answers to GET / (the start-up probe's check), or None when it
    # answers something else by design (the file floor: its file).
    root_body: Optional[bytes] = EXPECTED_BODY

    def refuses_files(self, files: Tuple[str, ...]) -> str:
        """Why it cannot answer a scenario requesting these files, or ""."""
        return self.no_files

    def available(self) -> Tuple[bool, str]:
        """(True, "") when it can run here, else (False, what is missing and how to get it)."""
        raise NotImplementedError

    def version(self) -> str:
        return ""

    def command(self, port: int, workdir: str) -> List[str]:
        """The argv that serves GET / on 127.0.0.1:port, one worker, no access log.

        workdir is a fresh private directory for configs, pid files and logs.
        """
        raise NotImplementedError

    def startup_timeout_s(self) -> float:
        return 10.0


def repo_root() -> str:
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def bin_dirs(root: Optional[str] = None) -> List[str]:
    """Where built binaries may be, best first: $HELLEPOLL_BIN_DIR, the opt tree, bazel-bin."""
    root = root or repo_root()
    dirs = []
    if os.environ.get("HELLEPOLL_BIN_DIR"):
        dirs.append(os.environ["HELLEPOLL_BIN_DIR"])
    dirs.append(os.path.join(root, "bazel-out", "k8-opt", "bin"))
    dirs.append(os.path.join(root, "bazel-bin"))
    return dirs


def find_binary(relpath: str, root: Optional[str] = None) -> Optional[str]:
    for d in bin_dirs(root):
        path = os.path.join(d, relpath)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def build_mode(path: str) -> str:
    real = os.path.realpath(path)
    for mode in ("opt", "fastbuild", "dbg"):
        if "-%s/" % mode in real:
            return mode
    return "unknown"


class Variant(ServerSpec):
    """One of our binaries: bazel-bin/variants/<name> --port P --workers 1."""

    kind = "variant"

    def __init__(self, name: str, root: Optional[str] = None):
        # The binary; subclasses that start it differently rename the spec, not this.
        self.variant = name
        self.name = name
        self.label = name
        self.root = root
        if name in DECLARED.floors:
            self.keepalive_only = "it never closes first, so it serves keep-alive scenarios only"
            self.no_files = "it parses nothing, so it serves no files"

    def binary(self) -> Optional[str]:
        return find_binary(os.path.join("variants", self.variant), self.root)

    def available(self):
        if self.binary():
            return True, ""
        return False, ("not built: run `bazel build -c opt //variants:all` "
                       "(./hellepoll reproduce does it)")

    def version(self):
        path = self.binary()
        if not path:
            return ""
        stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(os.path.getmtime(path)))
        return "%s build of %s" % (build_mode(path), stamp)

    def command(self, port, workdir):
        argv = [self.binary(), "--port", str(port), "--workers", "1"]
        if self.static_root and self.variant not in DECLARED.floors:
            argv += ["--root", os.path.join(self.static_root, "static"), "--mount", "/static/"]
        return argv

    def startup_timeout_s(self):
        return 5.0  # a native binary answers in milliseconds; don't wait on a crash loop


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def probe(port: int, timeout_s: float = 2.0) -> Dict:
    """GET / once over keep-alive HTTP/1.1; return status, headers size and body.

    Reads exactly Content-Length bytes rather than waiting for a close, so that
    servers which never close (the floor) answer the probe too.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                raise ConnectionError("closed before a complete header")
            data += chunk
        head, body = data.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        if "content-length" in headers:
            want = int(headers["content-length"])
            while len(body) < want:
                chunk = s.recv(65536)
                if not chunk:
                    break
                body += chunk
            body = body[:want]
        return {"status": status, "header_bytes": len(head) + 4, "body": body,
                "headers": headers, "status_line": lines[0]}


def tree_pids(root_pid: int) -> List[int]:
    """root_pid and all its descendants, from one scan of /proc."""
    children: Dict[int, List[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        stat = _read_stat(int(entry))
        if stat:
            children.setdefault(stat["ppid"], []).append(int(entry))
    pids, todo = [], [root_pid]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo.extend(children.get(pid, []))
    return sorted(pids)


def _read_stat(pid: int) -> Optional[Dict]:
    try:
        with open("/proc/%d/stat" % pid) as f:
            text = f.read()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: split after the last ')'.
    fields = text[text.rindex(")") + 2:].split()
    return {
        "state": fields[0],
        "ppid": int(fields[1]),
        "utime": int(fields[11]),
        "stime": int(fields[12]),
        "cutime": int(fields[13]),
        "cstime": int(fields[14]),
    }


def tree_cpu_ticks(root_pid: int) -> Dict[int, int]:
    """pid -> utime+stime (+ reaped children's) in clock ticks, for the whole tree."""
    ticks = {}
    for pid in tree_pids(root_pid):
        stat = _read_stat(pid)
        if stat:
            ticks[pid] = stat["utime"] + stat["stime"] + stat["cutime"] + stat["cstime"]
    return ticks


def tree_rss_kib(root_pid: int) -> int:
    """Resident memory of the whole tree (a procs variant's workers too), in KiB."""
    total = 0
    for pid in tree_pids(root_pid):
        try:
            with open("/proc/%d/status" % pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass  # exited between the scan and the read
    return total


def tree_fds(root_pid: int) -> int:
    """Open descriptors of the whole tree."""
    total = 0
    for pid in tree_pids(root_pid):
        try:
            total += len(os.listdir("/proc/%d/fd" % pid))
        except OSError:
            pass
    return total


def cpu_seconds_between(before: Dict[int, int], after: Dict[int, int]) -> float:
    """CPU seconds the tree used between two tree_cpu_ticks() snapshots."""
    # Sums, not per-pid deltas: a child reaped in between moves its ticks into
    # its parent's cutime, and the sums count them exactly once.
    return max(sum(after.values()) - sum(before.values()), 0) / CLK_TCK


class RunningServer:
    """A started server: pinned to cpus, in its own process group, logging to log_path.

    stop() sends SIGTERM (our servers drain and exit on it), waits, then
    SIGKILLs what is left of the group; exit_status is then the server's own.

    port=0 (our variants): the server binds a free port itself and announces
    it ("... listening on HOST:PORT ..."); wait_ready() reads it from the log,
    so no other process can take the port between choosing and binding it.
    """

    def __init__(self, spec: ServerSpec, cpus: str, log_path: str, taskset: Optional[str],
                 port: Optional[int] = None):
        self.spec = spec
        self.cpus = cpus
        self.log_path = log_path
        self.port = free_port() if port is None else port
        self.workdir = tempfile.mkdtemp(prefix="hellepoll-%s-" % spec.name)
        os.chmod(self.workdir, 0o755)  # readable by server workers under any user
        argv = spec.command(self.port, self.workdir)
        self.argv = ([taskset, "-c", cpus] if taskset else []) + argv
        self.log = open(log_path, "ab")
        self.log_start = self.log.tell()  # the log may hold earlier runs
        self.exit_status: Optional[int] = None
        self.proc = subprocess.Popen(self.argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True,
                                     cwd=self.workdir)
        self.response = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_ready(self) -> Tuple[bool, str]:
        """Poll until GET / is answered; (False, why) if it exits or times out first."""
        deadline = time.monotonic() + self.spec.startup_timeout_s()
        last_error = ""
        while time.monotonic() < deadline:
            if not self.alive():
                return False, "exited with status %s: %s" % (self.proc.returncode, self.log_tail())
            if self.port == 0:
                self.port = self.announced_port()
                if not self.port:
                    last_error = "no 'listening on HOST:PORT' line yet"
                    time.sleep(0.05)
                    continue
            try:
                self.response = probe(self.port)
                return True, ""
            except (OSError, ValueError, IndexError) as e:
                last_error = str(e)
            time.sleep(0.05)
        return False, "no answer on port %d after %.0f s (%s): %s" % (
            self.port, self.spec.startup_timeout_s(), last_error, self.log_tail())

    def announced_port(self) -> int:
        """The port in this run's "listening on HOST:PORT" line, or 0."""
        try:
            self.log.flush()
            with open(self.log_path, "rb") as f:
                f.seek(self.log_start)
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return 0
        m = re.search(r"listening on \S+:(\d+)", text)
        return int(m.group(1)) if m else 0

    def response_note(self) -> str:
        """'' when GET / answered 200 with what the spec answers there (root_body: the
        11-byte Hello World), else what differed."""
        r = self.response
        if r is None:
            return "no response"
        if r["status"] != 200:
            return "GET / answered %s" % r["status_line"]
        want = self.spec.root_body
        if want is not None and r["body"] != want:
            return "GET / body is %r, not %r" % (r["body"][:40], want)
        return ""

    def log_tail(self, n: int = 400) -> str:
        try:
            self.log.flush()
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - n))
                return f.read().decode("utf-8", "replace").strip().replace("\n", " | ")
        except OSError:
            return ""

    def stop(self, timeout_s: float = 5.0) -> None:
        if self.alive():
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                pass
        # Whatever is left of the group we created (workers, helpers) goes too.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            pass
        self.exit_status = self.proc.returncode
        self.log.close()
        shutil.rmtree(self.workdir, ignore_errors=True)
