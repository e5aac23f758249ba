"""Where a run writes: runs/<date>-<host>-<what>/ at the repository root, or --out.

runs/ is git-ignored, so a user's own runs never touch the reference runs
that results/ keeps for the docs; a maintainer refreshing one of those passes
--out results/<name>. A default directory is always a new one: when
runs/<date>-<host>-<what> exists, the run takes -2, -3 and so on.
"""

import datetime
import os
import socket
from typing import Optional


def new_run_dir(root: str, what: str, date: Optional[str] = None, host: Optional[str] = None) -> str:
    """Creates and returns <root>/runs/<date>-<host>-<what>[-N], never an existing directory.

    date defaults to today (YYYY-MM-DD, local time), host to this machine's name.
    """
    date = date or datetime.date.today().isoformat()
    host = host or socket.gethostname()
    base = os.path.join(root, "runs", "%s-%s-%s" % (date, host, what))
    os.makedirs(os.path.dirname(base), exist_ok=True)
    path, n = base, 2
    while True:
        try:
            os.mkdir(path)  # fails if it exists: two runs started at once get two directories
            return path
        except FileExistsError:
            path = "%s-%d" % (base, n)
            n += 1


def out_dir(out: Optional[str], root: str, what: str, must_be_empty: bool = False) -> str:
    """The directory a run writes to, created: --out DIR as given, else a new run directory.

    must_be_empty: a tool that reads back everything under its directory (reproduce's
    raw/) would mix an older run into its tables, so an --out that holds files is refused."""
    if out:
        path = os.path.abspath(out)
        if must_be_empty and os.path.isdir(path) and os.listdir(path):
            raise SystemExit("%s is not empty: give --out a new directory (or remove this one); "
                             "an older run's files there would be read as this run's" % out)
        os.makedirs(path, exist_ok=True)
        return path
    return new_run_dir(root, what)


def doc_parser(prog: str, doc: str):
    """An argparse parser for a `python3 -m analysis.X` tool whose module docstring is its
    help: the first paragraph the description, the rest the epilog, kept as written."""
    import argparse  # pylint: disable=import-outside-toplevel

    return argparse.ArgumentParser(prog=prog, description=doc.split("\n\n", 1)[0],
                                   epilog=doc.split("\n\n", 1)[1],
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
