"""The files the static-* scenarios request, and the tree every server serves them from.

One tree per run, in a private temporary directory: <tree>/static/<name>. Every
server is started so that GET /static/<name> answers that file (our variants
with --root <tree>/static --mount /static/, nginx with root <tree>, h2o's
file.dir, node's fs streams, Tornado's StaticFileHandler, deft's static
content directory), while GET / stays the hello-world answer. The bytes are
pseudo-random (incompressible, and a wrong offset shows), from a fixed seed,
written to disk: real files, not sparse ones.
"""

import os
import random
import shutil
import tempfile
from typing import Dict, Optional, Tuple

KIB = 1024

# static-mix: 20 files of 1 to 85 KB, requested in rotation (HttpArena's static
# profile); evenly spread sizes.
MIX = tuple(("mix-%02d.bin" % i, round((1 + 84 * i / 19) * KIB)) for i in range(20))

FILES: Dict[str, int] = dict(
    [("file-1k.bin", KIB), ("file-4k.bin", 4 * KIB), ("file-16k.bin", 16 * KIB),
     ("file-32k.bin", 32 * KIB), ("file-64k.bin", 64 * KIB), ("file-1m.bin", KIB * KIB)] + list(MIX))


def content(name: str) -> bytes:
    """The bytes of one file: the same on every machine and every run."""
    return random.Random("hellepoll-static-" + name).randbytes(FILES[name])


class Tree:
    """A temporary tree with every file; removed by close()."""

    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="hellepoll-static-")
        os.chmod(self.root, 0o755)  # servers' workers may run as another user
        self.static_dir = os.path.join(self.root, "static")
        os.mkdir(self.static_dir)
        os.chmod(self.static_dir, 0o755)
        for name in FILES:
            path = self.path(name)
            with open(path, "wb") as f:
                f.write(content(name))
            os.chmod(path, 0o644)

    def path(self, name: str) -> str:
        return os.path.join(self.static_dir, name)

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def url_paths(names: Tuple[str, ...]) -> Tuple[str, ...]:
    return tuple("/static/" + n for n in names)


def client_target(scenario, port: int, tree: Optional[Tree]) -> Tuple[str, Tuple[str, ...], Optional[str]]:
    """(url, more urls in rotation, file whose bytes every answer must be, or None)
    for a scenario's client against 127.0.0.1:port; GET / unless it names files."""
    if not scenario.files:
        return "http://127.0.0.1:%d/" % port, (), None
    urls = tuple("http://127.0.0.1:%d%s" % (port, p) for p in url_paths(scenario.files))
    body = tree.path(scenario.files[0]) if tree and len(scenario.files) == 1 else None
    return urls[0], urls[1:], body
