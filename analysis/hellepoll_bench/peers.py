"""The peers: other servers answering GET / with the same 11-byte "Hello World".

Each is configured for one worker and no access log, and listens on
127.0.0.1 at the port the runner gives. Config files live in analysis/peers/
as templates (${port}, ${workdir}) and are rendered into a private temp dir,
so no system-wide nginx or h2o config is read or any system service touched.

A peer whose program is missing says so in available(), with how to get it;
the runner then skips it with that line and the tables read "not installed".
"""

import glob
import grp
import json
import os
import pwd
import shutil
import string
import subprocess
import sys
import zipfile
from typing import List, Optional, Tuple

from .servers import ServerSpec

PEERS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "peers")
DEBIAN_PYTHON = "/usr/bin/python3"


def _output(argv: List[str], timeout: float = 10.0) -> str:
    """stdout+stderr of a short command, '' if it cannot run."""
    try:
        done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=timeout, check=False)
        return done.stdout.decode("utf-8", "replace").strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def current_user() -> Tuple[str, str]:
    """(user, group) names of this process, for the servers' worker processes."""
    try:
        user = pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        user = str(os.getuid())
    try:
        group = grp.getgrgid(os.getgid()).gr_name
    except KeyError:
        group = str(os.getgid())
    return user, group


def render(template_name: str, **values) -> str:
    """A template from analysis/peers/ with ${name} placeholders filled in."""
    user, group = current_user()
    values.setdefault("user", user)
    values.setdefault("group", group)
    with open(os.path.join(PEERS_DIR, template_name)) as f:
        return string.Template(f.read()).substitute(**values)


class Tornado(ServerSpec):
    name = "tornado"
    label = "Tornado"

    def python(self) -> str:
        return DEBIAN_PYTHON if os.path.exists(DEBIAN_PYTHON) else sys.executable

    def available(self):
        if self.version():
            return True, ""
        return False, "not installed: apt-get install python3-tornado"

    def version(self):
        out = _output([self.python(), "-c", "import tornado; print(tornado.version)"])
        last = out.splitlines()[-1] if out else ""
        return last if last[:1].isdigit() else ""

    def command(self, port, workdir):
        argv = [self.python(), os.path.join(PEERS_DIR, "tornado_hello.py"), "--port", str(port)]
        if self.static_root:
            argv += ["--static", os.path.join(self.static_root, "static")]
        return argv


class Node(ServerSpec):
    name = "node"
    label = "node.js"

    def binary(self) -> Optional[str]:
        return shutil.which("node") or shutil.which("nodejs")

    def available(self):
        if self.binary():
            return True, ""
        return False, "not installed: apt-get install nodejs"

    def version(self):
        return _output([self.binary(), "--version"]) if self.binary() else ""

    def command(self, port, workdir):
        argv = [self.binary(), os.path.join(PEERS_DIR, "node_hello.js"), str(port)]
        if self.static_root:
            argv.append(os.path.join(self.static_root, "static"))
        return argv


class Nginx(ServerSpec):
    name = "nginx"
    label = "nginx"

    def binary(self) -> Optional[str]:
        return shutil.which("nginx") or next(
            (p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)

    def available(self):
        if self.binary():
            return True, ""
        return False, "not installed: apt-get install nginx-light"

    def version(self):
        out = _output([self.binary(), "-v"]) if self.binary() else ""
        return out.split("/", 1)[-1] if "/" in out else out

    def config(self, port: int, workdir: str) -> str:
        return render("nginx.conf.in", port=port, workdir=workdir,
                      static=string.Template(NGINX_STATIC).substitute(root=self.static_root)
                      if self.static_root else "")

    def command(self, port, workdir):
        path = os.path.join(workdir, "nginx.conf")
        with open(path, "w") as f:
            f.write(self.config(port, workdir))
        # -e: the error log nginx opens before reading the config, kept out of /var/log.
        return [self.binary(), "-p", workdir, "-c", path, "-e", os.path.join(workdir, "error.log")]


# nginx's production settings for files: sendfile (with tcp_nopush, so that
# the head and the file's first bytes share a segment) and open_file_cache,
# the counterpart of our per-worker cache.
NGINX_STATIC = """\
        location /static/ {
            root ${root};
            sendfile on;
            tcp_nopush on;
            open_file_cache max=1000 inactive=60s;
            open_file_cache_valid 60s;
            etag on;
        }
"""

# h2o's file handler for the static-* scenarios.
H2O_STATIC = """\
      /static:
        file.dir: ${root}/static
"""

# The h2o handler: mruby returns the body directly, as nginx's `return 200`
# does; without mruby, an 11-byte file is served instead.
H2O_MRUBY_HANDLER = """\
        mruby.handler: |
          Proc.new do |env|
            [200, {"content-type" => "text/plain"}, ["Hello World"]]
          end"""
H2O_FILE_HANDLER = """\
        file.file: ${workdir}/hello.txt"""


class H2o(ServerSpec):
    name = "h2o"
    label = "h2o"

    def binary(self) -> Optional[str]:
        return shutil.which("h2o")

    def available(self):
        if self.binary():
            return True, ""
        return False, "not installed: apt-get install h2o"

    def version(self):
        out = _output([self.binary(), "--version"]) if self.binary() else ""
        first = out.splitlines()[0] if out else ""
        return first.replace("h2o version ", "")

    def has_mruby(self) -> bool:
        return "mruby: YES" in (_output([self.binary(), "--version"]) if self.binary() else "")

    def config(self, port: int, workdir: str, mruby: bool = True) -> str:
        handler = H2O_MRUBY_HANDLER if mruby else string.Template(H2O_FILE_HANDLER).substitute(
            workdir=workdir)
        static = (string.Template(H2O_STATIC).substitute(root=self.static_root)
                  if self.static_root else "")
        return render("h2o.conf.in", port=port, workdir=workdir, handler=handler, static=static)

    def command(self, port, workdir):
        mruby = self.has_mruby()
        if not mruby:
            with open(os.path.join(workdir, "hello.txt"), "w") as f:
                f.write("Hello World")
        path = os.path.join(workdir, "h2o.conf")
        with open(path, "w") as f:
            f.write(self.config(port, workdir, mruby))
        return [self.binary(), "-c", path]


def classpath_entries(classpath: str) -> List[str]:
    """Directories and jars of a Java classpath, with `dir/*` expanded as java does."""
    entries = []
    for entry in classpath.split(os.pathsep):
        if not entry:
            continue
        if entry.endswith("*"):
            entries.extend(sorted(glob.glob(entry[:-1] + "*.jar")))
        else:
            entries.append(entry)
    return entries


def classpath_has(classpath: str, class_name: str) -> bool:
    rel = class_name.replace(".", "/") + ".class"
    for entry in classpath_entries(classpath):
        if os.path.isdir(entry):
            if os.path.isfile(os.path.join(entry, rel)):
                return True
        elif os.path.isfile(entry):
            try:
                with zipfile.ZipFile(entry) as jar:
                    jar.getinfo(rel)
                    return True
            except (KeyError, zipfile.BadZipFile, OSError):
                continue
    return False


# Where `./hellepoll setup reproduce` builds deft (analysis/deft_build.py):
#   deft.jar     deft's classes and resources, compiled with javac
#   build.json   what it was built from (the source's identity) and how long it took
#   classpath    deft.jar and the Debian jars it runs with, one line; written last,
#                so its presence means a complete build
DEFT_JAR = "deft.jar"
DEFT_STAMP = "build.json"
DEFT_CLASSPATH_FILE = "classpath"

DEFT_HOWTO = ("not installed: deft (2011) is in no package archive; `./hellepoll setup "
              "reproduce` builds it from source into %s (or set "
              "DEFT_CLASSPATH=/path/to/deft.jar:/path/to/its/dependency/jars/*)")


def deft_cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "hellepoll", "deft")


def cached_deft_classpath(cache: Optional[str] = None) -> str:
    """The classpath of the cached deft build, or "" when there is none."""
    try:
        with open(os.path.join(cache or deft_cache_dir(), DEFT_CLASSPATH_FILE)) as f:
            return f.read().strip()
    except OSError:
        return ""


def cached_deft_build(cache: Optional[str] = None) -> dict:
    """The cached build's build.json ({} when absent or unreadable)."""
    try:
        with open(os.path.join(cache or deft_cache_dir(), DEFT_STAMP)) as f:
            stamp = json.load(f)
    except (OSError, ValueError):
        return {}
    return stamp if isinstance(stamp, dict) else {}


class Deft(ServerSpec):
    """deft, the 2011 Java server: compiled from peers/deft/HelloDeft.java.in on demand."""

    name = "deft"
    label = "deft"
    # HotSpot interprets a method until it has been called ~10k times, then C2
    # compiles it in the background. Under keepalive-c25 (loadgen, 1 s slices, one
    # core each) deft's req/s climbed from 3.5-6.5k in the first second to its
    # level, 25-32k, after 4-6 s of load; 8 s leaves a margin. The compiled code
    # stays for the life of the process, so what counts is the load before its
    # first measured run.
    min_warmup_s = 8.0
    cold_note = ("deft's figures are cold: --quick's warm-up is shorter than the %.0f s the "
                 "JVM's JIT needs to compile deft's request path" % min_warmup_s)
    pipeline_note = "answers only the first request of a pipelined batch"

    def classpath(self) -> str:
        return os.environ.get("DEFT_CLASSPATH") or cached_deft_classpath()

    def http_package(self) -> Optional[str]:
        for package in ("org.deftserver.web.http", "org.deftserver.web.protocol"):
            if classpath_has(self.classpath(), package + ".HttpRequest"):
                return package
        return None

    def ioloop_package(self) -> str:
        if classpath_has(self.classpath(), "org.deftserver.web.IOLoop"):
            return "org.deftserver.web"  # before deft moved it to org.deftserver.io
        return "org.deftserver.io"

    def available(self):
        if not self.classpath():
            return False, DEFT_HOWTO % deft_cache_dir()
        if not (shutil.which("java") and shutil.which("javac")):
            return False, "not installed: deft needs a JDK: apt-get install default-jdk-headless"
        if not os.environ.get("DEFT_CLASSPATH"):
            gone = [e for e in classpath_entries(self.classpath()) if not os.path.exists(e)]
            if gone:
                return False, ("not installed: the cached deft build runs with %s, now missing: "
                               "./hellepoll setup reproduce" % ", ".join(gone))
        if not classpath_has(self.classpath(), "org.deftserver.web.HttpServer"):
            return False, ("not installed: classpath %s has no org.deftserver.web.HttpServer"
                           % self.classpath())
        if not self.http_package():
            return False, "not installed: classpath %s has deft but no HttpRequest class" % (
                self.classpath())
        return True, ""

    def version(self):
        if not self.classpath():
            return ""
        java = _output(["java", "-version"]).splitlines()
        java = java[0] if java else "java"
        if not os.environ.get("DEFT_CLASSPATH"):
            source = os.path.basename(cached_deft_build().get("source", "?"))
            return "deft from %s on %s" % (source, java)
        jars = [os.path.basename(e) for e in classpath_entries(self.classpath())
                if "deft" in os.path.basename(e).lower()]
        return "%s on %s" % (", ".join(jars) or self.classpath(), java)

    def source(self) -> str:
        return render(os.path.join("deft", "HelloDeft.java.in"), http_package=self.http_package(),
                      ioloop_package=self.ioloop_package())

    def startup_timeout_s(self):
        return 30.0  # the JVM

    def command(self, port, workdir):
        src = os.path.join(workdir, "HelloDeft.java")
        with open(src, "w") as f:
            f.write(self.source())
        done = subprocess.run(["javac", "-nowarn", "-cp", self.classpath(), "-d", workdir, src],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
        if done.returncode != 0:
            raise RuntimeError("javac HelloDeft.java failed: %s"
                               % done.stdout.decode("utf-8", "replace")[-600:])
        if self.static_root:
            # deft serves /static/<name> from ./static (its working directory's).
            os.symlink(os.path.join(self.static_root, "static"), os.path.join(workdir, "static"))
        return ["java", "-cp", workdir + os.pathsep + self.classpath(), "HelloDeft", str(port)]


# In the order tables and graphs show them, after our variants.
PEERS = (Nginx(), H2o(), Node(), Deft(), Tornado())
BY_NAME = {p.name: p for p in PEERS}
