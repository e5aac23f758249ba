"""Load generators: the command line for a scenario, and its output normalised.

ab (ApacheBench) drives the two rows of the original table; our loadgen
drives the rest, with wrk as the fallback while loadgen is not built (wrk
cannot pace a fixed rate, so fixed-rate needs loadgen).

Every parser returns the same "result" shape as loadgen's JSON:
  {"requests", "responses", "duration_s", "req_per_s",
   "errors": {"connect", "read", "write", "timeout", "reset", "short_read",
              "parse", "non2xx", "unexpected_status", "unexpected_body", "total"},
   "unanswered_at_end", "not_sent", "resent",
   "valid", "invalid_reason"}
A run is valid only when the tool exited 0, counted no error of any kind and
left no request unanswered or unsent at the end. loadgen checks every
response against the servers' common answer (status 200, body EXPECTED_BODY);
a pipelined loadgen run is invalid too when requests had to be re-sent
because the server closed the connection mid-batch.
"""

import json
import math
import re
import shutil
from typing import Dict, List, Optional, Sequence, Tuple

from .servers import EXPECTED_BODY, find_binary

ERROR_KINDS = ("connect", "read", "write", "timeout", "reset", "short_read", "parse", "non2xx",
               "unexpected_status", "unexpected_body")
# Requests a run ended with, unanswered or never sent (loadgen only).
UNFINISHED_KINDS = ("unanswered_at_end", "not_sent")
WRK_PIPELINE_LUA = __file__.rsplit("/", 1)[0] + "/wrk_pipeline.lua"


def empty_errors() -> Dict[str, int]:
    errors = {k: 0 for k in ERROR_KINDS}
    errors["total"] = 0
    return errors


def _finish(result: Dict, exit_code: int, tool_message: str = "", allow_unanswered: int = 0,
            other_reasons: Sequence[str] = ()) -> Dict:
    """Fill errors.total, valid and invalid_reason from the counts, the exit code
    and the tool-specific other_reasons."""
    errors = result["errors"]
    errors["total"] = sum(errors[k] for k in ERROR_KINDS)
    reasons = ["%d %s" % (errors[k], k.replace("_", " ")) for k in ERROR_KINDS if errors[k]]
    unfinished = sum(result.get(k, 0) for k in UNFINISHED_KINDS)
    if unfinished > allow_unanswered:
        reasons += ["%d %s" % (result[k], k.replace("_", " "))
                    for k in UNFINISHED_KINDS if result.get(k)]
    reasons += other_reasons
    if exit_code != 0:
        reasons.append("exit status %d%s" % (exit_code, ": " + tool_message if tool_message else ""))
    if not result.get("responses"):
        reasons.append("no responses")
    result["valid"] = not reasons
    result["invalid_reason"] = "; ".join(reasons)
    return result


def format_duration(seconds: float) -> str:
    """'2s', or '400ms' below a second or for fractions (wrk-style units)."""
    if seconds >= 1 and abs(seconds - round(seconds)) < 1e-9:
        return "%ds" % round(seconds)
    return "%dms" % max(1, round(seconds * 1000))


# ---------------------------------------------------------------------------
# ab
# ---------------------------------------------------------------------------
def ab_command(ab: str, url: str, connections: int, keepalive: bool, duration_s: float,
               expected_rate: Optional[float]) -> List[str]:
    """ab sized to last about duration_s.

    ab's -t takes whole seconds, so short runs are sized by request count from
    the rate the warm-up (or the previous run) saw; -t stays as a cap.
    """
    if expected_rate:
        requests = max(connections * 4, int(expected_rate * duration_s))
        cap_s = max(1, math.ceil(duration_s * 3))
    else:  # warm-up: time-bound, capped by count for the fast servers
        requests = max(2000, int(250_000 * duration_s))
        cap_s = max(1, math.ceil(duration_s))
    argv = [ab, "-q", "-r", "-s", "2", "-c", str(connections)]
    if keepalive:
        argv.append("-k")
    # -t first: ab resets -n to 50,000 when it reads -t.
    return argv + ["-t", str(cap_s), "-n", str(requests), url]


def _ab_int(text: str, label: str) -> int:
    m = re.search(r"^%s:\s+(\d+)" % re.escape(label), text, re.M)
    return int(m.group(1)) if m else 0


def parse_ab(text: str, exit_code: int, stderr: str = "", expect_body: Optional[bytes] = EXPECTED_BODY) -> Dict:
    """ab checks no body and counts only non-2xx: its "Document Length" (the first
    answer's; a later one of another length is a Length failure) must be
    expect_body's, and its Non-2xx count must be 0, else every answer counts as
    unexpected."""
    result = {"requests": 0, "responses": 0, "duration_s": 0.0, "req_per_s": 0.0,
              "errors": empty_errors()}
    complete = _ab_int(text, "Complete requests")
    failed = _ab_int(text, "Failed requests")
    non2xx = _ab_int(text, "Non-2xx responses")
    m = re.search(r"\(Connect: (\d+), Receive: (\d+), Length: (\d+), Exceptions: (\d+)\)", text)
    if m:
        connect, receive, length, exceptions = (int(x) for x in m.groups())
    else:
        connect = receive = length = exceptions = 0
        receive = failed  # a total without the breakdown: count it somewhere visible
    e = result["errors"]
    e["connect"], e["read"], e["short_read"], e["parse"] = connect, receive, length, exceptions
    e["write"] = _ab_int(text, "Write errors")
    e["non2xx"] = non2xx
    doc = re.search(r"^Document Length:\s+(\d+) bytes", text, re.M)
    if expect_body is not None and complete and (not doc or int(doc.group(1)) != len(expect_body)):
        e["unexpected_body"] = complete
    m = re.search(r"^Time taken for tests:\s+([\d.]+)", text, re.M)
    result["duration_s"] = float(m.group(1)) if m else 0.0
    m = re.search(r"^Requests per second:\s+([\d.]+)", text, re.M)
    result["req_per_s"] = float(m.group(1)) if m else 0.0
    result["requests"] = complete
    result["responses"] = max(0, complete - failed - non2xx)
    result["keepalive_requests"] = _ab_int(text, "Keep-Alive requests")
    message = ""
    if exit_code != 0:
        lines = [l for l in (stderr or text).strip().splitlines() if l.strip()]
        message = lines[-1].strip() if lines else ""
        low = message.lower()
        if "reset" in low:
            e["reset"] += 1
        elif "timeout" in low or "timed out" in low:
            e["timeout"] += 1
    return _finish(result, exit_code, message)


# ---------------------------------------------------------------------------
# loadgen (ours)
# ---------------------------------------------------------------------------
def loadgen_command(loadgen: str, url: str, connections: int, pipeline: int, duration_s: float,
                    rate: Optional[float], json_path: str, expect_status: Optional[int] = 200,
                    expect_body: Optional[bytes] = EXPECTED_BODY, more_urls: Tuple[str, ...] = (),
                    expect_body_file: Optional[str] = None) -> List[str]:
    """loadgen's command line; every response must have expect_status and
    expect_body, or the bytes of expect_body_file (None: not checked), else the
    run is invalid. more_urls: requested in rotation with url."""
    argv = [loadgen, "-d", format_duration(duration_s), "-t", "1", "-c", str(connections)]
    if expect_status is not None:
        argv += ["--expect-status", str(expect_status)]
    if expect_body_file is not None:
        argv += ["--expect-body", "@" + expect_body_file]
    elif expect_body is not None:
        argv += ["--expect-body", expect_body.decode("latin-1")]
    if pipeline > 1:
        argv += ["--pipeline", str(pipeline)]
    if rate:
        argv += ["--rate", str(int(round(rate))), "--latency"]
    return argv + ["--json", json_path, url] + list(more_urls)


def parse_loadgen(report: Optional[Dict], exit_code: int, text: str = "") -> Tuple[Dict, Optional[Dict]]:
    """(result, latency_us) from loadgen's --json report (None if it wrote none)."""
    if not report or "result" not in report:
        result = {"requests": 0, "responses": 0, "duration_s": 0.0, "req_per_s": 0.0,
                  "errors": empty_errors()}
        lines = [l for l in text.strip().splitlines() if l.strip()]
        return _finish(result, exit_code or 1, lines[-1] if lines else "no JSON report"), None
    r = report["result"]
    errors = empty_errors()
    for k in ERROR_KINDS:
        errors[k] = int(r.get("errors", {}).get(k, 0))
    result = {"requests": int(r.get("requests", 0)), "responses": int(r.get("responses", 0)),
              "duration_s": float(r.get("duration_s", 0.0)),
              "req_per_s": float(r.get("req_per_s", 0.0)), "errors": errors,
              "status": r.get("status", {})}
    for k in UNFINISHED_KINDS:
        result[k] = int(r.get(k, 0))
    result["resent"] = int(r.get("resent", 0))
    setting = report.get("setting", {})
    # A server that answers one request of a batch and closes makes loadgen
    # send the rest again, one batch per connection: the run is valid to
    # loadgen but measured no pipelining.
    other_reasons = []
    if int(setting.get("pipeline", 1)) > 1 and result["resent"]:
        other_reasons.append("%d requests re-sent after the server closed mid-batch "
                             "(it does not pipeline)" % result["resent"])
    # Count non-2xx from the status classes too, in case a loadgen build does
    # not; with --expect-status loadgen counts unexpected_status instead.
    if not setting.get("expect_status"):
        status = r.get("status", {})
        others = sum(int(status.get(c, 0)) for c in ("1xx", "3xx", "4xx", "5xx"))
        errors["non2xx"] = max(errors["non2xx"], others)
    message = "" if r.get("valid", True) else "loadgen marked the run invalid"
    if r.get("miscounted_connections"):
        message += " (%d connections miscounted)" % r["miscounted_connections"]
    if message and exit_code == 0:
        exit_code = 1
    return (_finish(result, exit_code, message, int(setting.get("allow_unanswered", 0)), other_reasons),
            report.get("latency_us"))


# ---------------------------------------------------------------------------
# wrk (fallback)
# ---------------------------------------------------------------------------
def wrk_command(wrk: str, url: str, connections: int, pipeline: int, duration_s: float) -> List[str]:
    # wrk's -d takes whole seconds.
    argv = [wrk, "-t", "1", "-c", str(connections), "-d", "%ds" % max(1, math.ceil(duration_s)),
            "--latency"]
    if pipeline > 1:
        argv += ["-s", WRK_PIPELINE_LUA, url, "--", str(pipeline)]
    else:
        argv.append(url)
    return argv


_UNITS_US = {"us": 1.0, "ms": 1e3, "s": 1e6, "m": 60e6}


def _wrk_time_us(value: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s|m)$", value.strip())
    return float(m.group(1)) * _UNITS_US[m.group(2)] if m else float("nan")


def parse_wrk(text: str, exit_code: int) -> Tuple[Dict, Optional[Dict]]:
    result = {"requests": 0, "responses": 0, "duration_s": 0.0, "req_per_s": 0.0,
              "errors": empty_errors()}
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", text)
    if m:
        result["requests"] = int(m.group(1))
        result["duration_s"] = _wrk_time_us(m.group(2) + m.group(3)) / 1e6
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    result["req_per_s"] = float(m.group(1)) if m else 0.0
    e = result["errors"]
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        e["connect"], e["read"], e["write"], e["timeout"] = (int(x) for x in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    e["non2xx"] = int(m.group(1)) if m else 0
    result["responses"] = max(0, result["requests"] - e["non2xx"])
    latency = None
    pcts = dict(re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+(?:us|ms|s|m))\s*$", text, re.M))
    if pcts:
        latency = {"p%s" % k: _wrk_time_us(v) for k, v in pcts.items()}
        m = re.search(r"Latency\s+([\d.]+\w+)\s+([\d.]+\w+)\s+([\d.]+\w+)", text)
        if m:
            latency["mean"], latency["stdev"], latency["max"] = (_wrk_time_us(x) for x in m.groups())
        latency["corrected"] = False  # closed loop: understates the tail
    lines = [l for l in text.strip().splitlines() if l.strip()]
    return _finish(result, exit_code, lines[-1] if exit_code and lines else ""), latency


# ---------------------------------------------------------------------------
# Which tool is here
# ---------------------------------------------------------------------------
class Tools:
    """The load generators found on this machine (explicit paths win, for tests)."""

    def __init__(self, prefer: str = "auto", ab: Optional[str] = None,
                 loadgen: Optional[str] = None, wrk: Optional[str] = None):
        self.ab = ab or shutil.which("ab")
        self.loadgen = loadgen or find_binary("loadgen/loadgen")
        self.wrk = wrk or shutil.which("wrk")
        if prefer == "wrk":
            self.loadgen = None
        elif prefer == "loadgen":
            self.wrk = None

    def for_scenario(self, scenario) -> Tuple[Optional[str], str]:
        """(tool name, '') or (None, what is missing and how to get it)."""
        if scenario.client == "ab":
            return ("ab", "") if self.ab else (None, "ab missing: apt-get install apache2-utils")
        if self.loadgen:
            return "loadgen", ""
        if len(getattr(scenario, "files", ())) > 1:
            return None, ("needs bazel-bin/loadgen/loadgen (it requests several files in "
                          "rotation): bazel build --config=opt //loadgen")
        if scenario.fixed_rate:
            return None, ("needs bazel-bin/loadgen/loadgen (wrk cannot hold a fixed rate): "
                          "bazel build --config=opt //loadgen")
        if scenario.pipeline > 1:
            # wrk counts no request left unanswered at the end: a server that
            # answers only the first of a batch would show a throughput.
            return None, ("needs bazel-bin/loadgen/loadgen (wrk cannot tell an unanswered "
                          "pipelined request): bazel build --config=opt //loadgen")
        if self.wrk:
            return "wrk", ""
        return None, "no load generator: bazel build --config=opt //loadgen, or apt-get install wrk"

    def min_duration_s(self, tool: str) -> float:
        return 1.0 if tool == "wrk" else 0.0

    @staticmethod
    def load_json(path: str) -> Optional[Dict]:
        try:
            with open(path) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None
