"""Build deft, the 2011 Java peer, from source into the user's cache, once.

deft is in no package archive, and its Maven build needs Maven Central. Its
code compiles unchanged with plain javac (JDK 17) against Debian 12's jars
(guava, slf4j, logback, javax.activation); its tests are not built. The
result goes to ~/.cache/hellepoll/deft/ ($XDG_CACHE_HOME/hellepoll/deft/):
deft.jar, build.json (the source's identity) and classpath, which the deft
peer runs with. A build from the same source is not repeated.

The source, first found:
  $DEFT_SRC                               a deft checkout, or a tarball of one
  ../shared/peers/deft-f29869d.tar.gz     beside the repository
  git clone https://github.com/rschildmeijer/deft at f29869d
(with neither of the first two, a build already cached is used without cloning).

$DEFT_CLASSPATH, when set, replaces the cached build: nothing is built.

examples:
  python3 -m analysis.deft_build            # what ./hellepoll setup reproduce runs
  DEFT_SRC=~/src/deft python3 -m analysis.deft_build
  python3 -m analysis.deft_build --force --json
"""

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from typing import Dict, List, Mapping, NamedTuple, Optional, Sequence

from analysis.hellepoll_bench import peers
from analysis.hellepoll_bench.servers import repo_root

REPO_URL = "https://github.com/rschildmeijer/deft"
PINNED_COMMIT = "f29869d"
TARBALL = "deft-%s.tar.gz" % PINNED_COMMIT
# deft's pom dependencies as Debian ships them: (package, jar under /usr/share/java).
DEBIAN_JARS = (
    ("libguava-java", "guava.jar"),
    ("libslf4j-java", "slf4j-api.jar"),
    ("liblogback-java", "logback-classic.jar"),
    ("liblogback-java", "logback-core.jar"),
    ("libactivation-java", "javax.activation.jar"),
)
JAVA_DIR = "/usr/share/java"
# Part of a build's identity: a change to how deft is built rebuilds it.
RECIPE = 1
SUPPLY = ("set DEFT_SRC to a deft checkout or to %s (deft's source at %s), or DEFT_CLASSPATH "
          "to a deft build" % (TARBALL, PINNED_COMMIT))


class BuildError(Exception):
    """What is missing and how to supply it, in one line."""


class Source(NamedTuple):
    kind: str  # "tarball", "checkout" or "clone"
    location: str  # a path, or the URL to clone
    identity: str  # equal identities build equal jars


def say(line: str) -> None:
    print("deft_build: " + line, file=sys.stderr, flush=True)


def file_digest(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def tree_digest(root: str) -> str:
    """sha256 over the relative paths and contents of what a build reads: src/main, pom.xml."""
    digest = hashlib.sha256()
    paths = [os.path.join(root, "pom.xml")] if os.path.isfile(os.path.join(root, "pom.xml")) else []
    for d, dirs, files in os.walk(os.path.join(root, "src", "main")):
        dirs.sort()
        paths.extend(os.path.join(d, f) for f in sorted(files))
    for path in paths:
        digest.update(os.path.relpath(path, root).encode() + b"\0")
        with open(path, "rb") as f:
            digest.update(f.read() + b"\0")
    return digest.hexdigest()


def source_root(path: str) -> str:
    """The directory holding src/main/java: path itself or its one subdirectory (a tarball's)."""
    if os.path.isdir(os.path.join(path, "src", "main", "java")):
        return path
    if not os.path.isdir(path):
        raise BuildError("%s has no src/main/java: not deft's source; %s" % (path, SUPPLY))
    subdirs = [os.path.join(path, d) for d in sorted(os.listdir(path))
               if os.path.isdir(os.path.join(path, d, "src", "main", "java"))]
    if len(subdirs) != 1:
        raise BuildError("%s has no src/main/java: not deft's source; %s" % (path, SUPPLY))
    return subdirs[0]


def find_source(env: Mapping[str, str], root: str) -> Source:
    """Which source to build, without fetching anything (DEFT_SRC, the shared tarball, git)."""
    given = env.get("DEFT_SRC")
    if given:
        if os.path.isfile(given):
            return Source("tarball", os.path.abspath(given), "sha256:" + file_digest(given))
        if os.path.isdir(given):
            checkout = source_root(given)
            return Source("checkout", os.path.abspath(checkout), "tree:" + tree_digest(checkout))
        raise BuildError("DEFT_SRC=%s does not exist; %s" % (given, SUPPLY))
    shared = os.path.normpath(os.path.join(root, "..", "shared", "peers", TARBALL))
    if os.path.isfile(shared):
        return Source("tarball", shared, "sha256:" + file_digest(shared))
    return Source("clone", REPO_URL, "git:" + PINNED_COMMIT)


def describe(source: Source) -> str:
    if source.kind == "clone":
        return "%s at %s" % (source.location, PINNED_COMMIT)
    return source.location


def dependency_jars(java_dir: str = JAVA_DIR) -> List[str]:
    """The Debian jars deft compiles and runs with; BuildError naming the package of any missing."""
    missing = sorted({pkg for pkg, jar in DEBIAN_JARS
                      if not os.path.isfile(os.path.join(java_dir, jar))})
    if missing:
        raise BuildError("deft needs %s (apt-get install %s; ./hellepoll setup reproduce does)"
                         % (", ".join(jar for pkg, jar in DEBIAN_JARS if pkg in missing),
                            " ".join(missing)))
    return [os.path.join(java_dir, jar) for _, jar in DEBIAN_JARS]


def is_current(cache: str, identity: Optional[str]) -> bool:
    """Whether cache holds a complete build of this source whose jars are all still there."""
    stamp = peers.cached_deft_build(cache)
    if not identity or stamp.get("identity") != identity or stamp.get("recipe") != RECIPE:
        return False
    classpath = peers.cached_deft_classpath(cache)
    entries = peers.classpath_entries(classpath)
    return bool(entries) and all(os.path.exists(e) for e in entries)


def _run(argv: Sequence[str], what: str, timeout: float, env: Optional[Dict[str, str]] = None) -> str:
    try:
        done = subprocess.run(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=timeout, check=False, env=env)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise BuildError("%s failed (%s)" % (what, e)) from None
    out = done.stdout.decode("utf-8", "replace")
    if done.returncode != 0:
        lines = [l for l in out.splitlines() if l.strip()]
        first = next((l for l in lines if "error" in l.lower()), lines[0] if lines else "")
        raise BuildError("%s failed (exit %d): %s" % (what, done.returncode, first.strip()))
    return out


def extract(tarball: str, into: str) -> str:
    """Unpacks tarball under into, refusing links and paths that leave it; returns the source root."""
    try:
        with tarfile.open(tarball) as tar:
            inside = os.path.realpath(into)
            for member in tar.getmembers():
                target = os.path.realpath(os.path.join(inside, member.name))
                if not (member.isfile() or member.isdir()) or \
                        not (target + os.sep).startswith(inside + os.sep):
                    raise BuildError("%s: unexpected entry %s; %s" % (tarball, member.name, SUPPLY))
            tar.extractall(into)
    except (tarfile.TarError, OSError) as e:
        raise BuildError("cannot unpack %s (%s); %s" % (tarball, e, SUPPLY)) from None
    return source_root(into)


def clone(into: str) -> str:
    if not shutil.which("git"):
        raise BuildError("no deft source here and no git to clone %s: %s" % (REPO_URL, SUPPLY))
    checkout = os.path.join(into, "deft")
    # Never wait on a prompt or a stalled network: an offline machine learns in
    # seconds that it must supply the source.
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0")
    try:
        _run(["git", "-c", "http.lowSpeedLimit=1000", "-c", "http.lowSpeedTime=20", "clone",
              "--quiet", "--no-checkout", REPO_URL, checkout], "git clone " + REPO_URL, timeout=300,
             env=env)
        _run(["git", "-C", checkout, "checkout", "--quiet", PINNED_COMMIT],
             "git checkout " + PINNED_COMMIT, timeout=60, env=env)
        head = _run(["git", "-C", checkout, "rev-parse", "HEAD"], "git rev-parse", timeout=60, env=env)
    except BuildError as e:
        raise BuildError("%s; offline? %s" % (e, SUPPLY)) from None
    if not head.strip().startswith(PINNED_COMMIT):
        raise BuildError("the clone is at %s, not %s: %s" % (head.strip()[:12], PINNED_COMMIT, SUPPLY))
    return checkout


def fetch(source: Source, into: str) -> str:
    """The source's root directory, unpacked or cloned under into when it is not a checkout."""
    if source.kind == "checkout":
        return source.location
    if source.kind == "tarball":
        return extract(source.location, into)
    return clone(into)


def compile_jar(src: str, jars: Sequence[str], work: str, jar_path: str) -> None:
    """javac src/main/java against jars; the classes and src/main/resources into jar_path."""
    if not shutil.which("javac"):
        raise BuildError("deft needs a JDK: apt-get install default-jdk-headless "
                         "(./hellepoll setup reproduce does)")
    java_files = sorted(os.path.join(d, f) for d, _, fs in os.walk(os.path.join(src, "src", "main",
                                                                                 "java"))
                        for f in fs if f.endswith(".java"))
    if not java_files:
        raise BuildError("%s/src/main/java has no .java files; %s" % (src, SUPPLY))
    classes = os.path.join(work, "classes")
    os.makedirs(classes)
    argfile = os.path.join(work, "sources.txt")
    with open(argfile, "w") as f:
        f.write("\n".join('"%s"' % p for p in java_files) + "\n")
    # -proc:none: no annotation processors from the classpath's jars.
    _run(["javac", "-nowarn", "-proc:none", "-encoding", "UTF-8", "-d", classes,
          "-cp", os.pathsep.join(jars), "@" + argfile], "javac (deft's src/main/java)", timeout=600)
    # strict_timestamps=False: a source tree dated before 1980 (mtime 0 in a tarball) still packs.
    with zipfile.ZipFile(jar_path, "w", zipfile.ZIP_DEFLATED, strict_timestamps=False) as jar:
        jar.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\r\n\r\n")
        for top in (classes, os.path.join(src, "src", "main", "resources")):
            for d, dirs, files in os.walk(top):
                dirs.sort()
                for f in sorted(files):
                    path = os.path.join(d, f)
                    jar.write(path, os.path.relpath(path, top))


def _replace(path: str, text: str) -> None:
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def build(source: Source, cache: str, jars: Sequence[str]) -> Dict:
    """Builds source into cache; returns build.json's contents. A failed build leaves the
    cache as it was; the classpath file, written last, marks a complete build."""
    started = time.monotonic()
    work = tempfile.mkdtemp(prefix="hellepoll-deft-")
    try:
        src = fetch(source, os.path.join(work, "src"))
        jar = os.path.join(work, peers.DEFT_JAR)
        compile_jar(src, jars, os.path.join(work, "build"), jar)
        os.makedirs(cache, exist_ok=True)
        # The new jar lands beside the old one first, so a failed copy leaves the
        # previous build whole; only then is the old build's mark taken away.
        staged = os.path.join(cache, peers.DEFT_JAR + ".new")
        shutil.copyfile(jar, staged)
        classpath_file = os.path.join(cache, peers.DEFT_CLASSPATH_FILE)
        if os.path.exists(classpath_file):
            os.remove(classpath_file)
        os.replace(staged, os.path.join(cache, peers.DEFT_JAR))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    stamp = {"identity": source.identity, "recipe": RECIPE, "kind": source.kind,
             "source": describe(source), "seconds": round(time.monotonic() - started, 1),
             "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    _replace(os.path.join(cache, peers.DEFT_STAMP), json.dumps(stamp, indent=1) + "\n")
    _replace(classpath_file,
             os.pathsep.join([os.path.join(cache, peers.DEFT_JAR)] + list(jars)) + "\n")
    return stamp


def ensure(env: Mapping[str, str], root: str, cache: str, force: bool = False,
           java_dir: str = JAVA_DIR) -> Dict:
    """Builds deft into cache unless it already holds a build of the same source.
    Returns what happened: status ("built", "current" or "override"), cache, classpath.

    Cloning is the last resort: with neither DEFT_SRC nor the shared tarball, any
    complete build in the cache will do, so a machine that built once needs no network."""
    if env.get("DEFT_CLASSPATH"):
        return {"status": "override", "classpath": env["DEFT_CLASSPATH"], "cache": cache}
    source = find_source(env, root)
    result = {"cache": cache, "source": describe(source), "identity": source.identity}
    cached = peers.cached_deft_build(cache)
    if not force and source.kind == "clone" and is_current(cache, cached.get("identity")):
        result.update(status="current", source=cached.get("source"), identity=cached["identity"])
    elif not force and is_current(cache, source.identity):
        result["status"] = "current"
    else:
        jars = dependency_jars(java_dir)
        say("building deft from %s into %s (javac, a few seconds)" % (describe(source), cache))
        result.update(status="built", seconds=build(source, cache, jars)["seconds"])
    result["classpath"] = peers.cached_deft_classpath(cache)
    return result


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python3 -m analysis.deft_build", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", metavar="DIR",
                        help="build into DIR (default: %s)" % peers.deft_cache_dir())
    parser.add_argument("--force", action="store_true",
                        help="build even when the cache holds a build of the same source")
    parser.add_argument("--json", action="store_true",
                        help="print what happened as JSON on stdout")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    cache = args.cache or peers.deft_cache_dir()
    try:
        result = ensure(os.environ, repo_root(), cache, args.force)
    except BuildError as e:
        say("error: %s" % e)
        return 1
    if result["status"] == "override":
        say("DEFT_CLASSPATH is set: deft runs from it, nothing built")
    elif result["status"] == "current":
        say("deft already built from %s in %s" % (result["source"], cache))
    else:
        say("built deft in %.1f s: %s" % (result["seconds"], result["classpath"]))
    if args.json:
        json.dump(result, sys.stdout, indent=1)
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
