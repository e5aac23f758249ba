"""What tables (report.py) and graphs (plots.py) share: the order servers are
shown in, and the line that names the machine and the date."""

from typing import Dict, Tuple

from .peers import PEERS
from .variants import VARIANTS

# Our variants first, in variants.bzl's order, then the peers.
SERVER_ORDER = list(VARIANTS) + [p.name for p in PEERS]


def server_order(name: str) -> Tuple[int, str]:
    """Sort key: SERVER_ORDER, then unknown servers by name."""
    return (SERVER_ORDER.index(name) if name in SERVER_ORDER else len(SERVER_ORDER), name)


def caption(machine: Dict) -> str:
    """One line naming the machine and the date, for tables and graphs."""
    if not machine:
        return "machine unknown"
    pin = machine.get("pinning", {})
    git = machine.get("git", {})
    return "%s on %s: %s, %s cores, Linux %s; server on CPU %s, client on CPU %s; git %s%s" % (
        machine.get("date", "?"), machine.get("host", "?"),
        machine.get("cpu", {}).get("model", "?"), machine.get("cpu", {}).get("cores_usable", "?"),
        machine.get("kernel", "?"), pin.get("server_cpus", "?"), pin.get("client_cpus", "?"),
        git.get("revision", "?")[:10], " (dirty)" if git.get("dirty") else "")
