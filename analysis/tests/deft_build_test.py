"""deft's build from source: which source, when the cache is current, and a real javac
build of a tiny deft-shaped tree (deft's own source is not needed here)."""

import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import unittest
import zipfile
from unittest import mock

from analysis import deft_build
from analysis.hellepoll_bench import peers

# The classes the deft peer looks for, and a resource: enough to tell a real build.
FAKE_DEFT = {
    "src/main/java/org/deftserver/web/HttpServer.java":
        "package org.deftserver.web;\npublic class HttpServer {}\n",
    "src/main/java/org/deftserver/web/http/HttpRequest.java":
        "package org.deftserver.web.http;\npublic class HttpRequest {}\n",
    "src/main/resources/logback.xml": "<configuration/>\n",
    "pom.xml": "<project/>\n",
}


def write_tree(root, files):
    for rel, text in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    return root


def write_tarball(path, files, top="deft-x"):
    with tarfile.open(path, "w:gz") as tar:
        for rel, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(os.path.join(top, rel))
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


class TempDirTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.root = os.path.join(self.tmp, "repo")
        self.cache = os.path.join(self.tmp, "cache")
        os.makedirs(self.root)

    def tearDown(self):
        shutil.rmtree(self.tmp)


class FindSourceTest(TempDirTest):
    def shared_tarball(self):
        shared = os.path.join(self.tmp, "shared", "peers")
        os.makedirs(shared)
        return write_tarball(os.path.join(shared, deft_build.TARBALL), FAKE_DEFT)

    def test_deft_src_tarball_is_named_by_its_sha256(self):
        tarball = write_tarball(os.path.join(self.tmp, "d.tar.gz"), FAKE_DEFT)
        source = deft_build.find_source({"DEFT_SRC": tarball}, self.root)
        self.assertEqual(source.kind, "tarball")
        self.assertEqual(source.identity, "sha256:" + deft_build.file_digest(tarball))

    def test_deft_src_checkout_is_named_by_its_contents(self):
        checkout = write_tree(os.path.join(self.tmp, "deft"), FAKE_DEFT)
        before = deft_build.find_source({"DEFT_SRC": checkout}, self.root)
        self.assertEqual((before.kind, before.location), ("checkout", checkout))
        self.assertTrue(before.identity.startswith("tree:"))
        with open(os.path.join(checkout, "src/main/resources/logback.xml"), "a") as f:
            f.write("<!-- edited -->\n")
        after = deft_build.find_source({"DEFT_SRC": checkout}, self.root)
        self.assertNotEqual(before.identity, after.identity)

    def test_a_checkout_one_level_down_is_found(self):
        write_tree(os.path.join(self.tmp, "unpacked", "deft-f29869d"), FAKE_DEFT)
        source = deft_build.find_source({"DEFT_SRC": os.path.join(self.tmp, "unpacked")},
                                        self.root)
        self.assertEqual(source.location, os.path.join(self.tmp, "unpacked", "deft-f29869d"))

    def test_deft_src_that_is_missing_is_one_line_saying_how(self):
        with self.assertRaises(deft_build.BuildError) as caught:
            deft_build.find_source({"DEFT_SRC": os.path.join(self.tmp, "nope")}, self.root)
        line = str(caught.exception)
        self.assertNotIn("\n", line)
        self.assertIn("DEFT_SRC=", line)
        self.assertIn(deft_build.TARBALL, line)

    def test_a_directory_that_is_not_deft_says_so(self):
        os.makedirs(os.path.join(self.tmp, "empty"))
        with self.assertRaisesRegex(deft_build.BuildError, "no src/main/java"):
            deft_build.find_source({"DEFT_SRC": os.path.join(self.tmp, "empty")}, self.root)

    def test_the_shared_tarball_beside_the_repository(self):
        tarball = self.shared_tarball()
        source = deft_build.find_source({}, self.root)
        self.assertEqual((source.kind, source.location), ("tarball", tarball))

    def test_deft_src_comes_before_the_shared_tarball(self):
        self.shared_tarball()
        checkout = write_tree(os.path.join(self.tmp, "deft"), FAKE_DEFT)
        self.assertEqual(deft_build.find_source({"DEFT_SRC": checkout}, self.root).kind,
                         "checkout")

    def test_without_either_it_clones_the_pinned_commit(self):
        source = deft_build.find_source({}, self.root)
        self.assertEqual(source, deft_build.Source("clone", deft_build.REPO_URL, "git:f29869d"))


class CacheTest(TempDirTest):
    def fake_build(self, identity, recipe=deft_build.RECIPE):
        """A cache as build() leaves it, with a stand-in jar."""
        os.makedirs(self.cache, exist_ok=True)
        jar = os.path.join(self.cache, peers.DEFT_JAR)
        dep = os.path.join(self.tmp, "guava.jar")
        for path in (jar, dep):
            zipfile.ZipFile(path, "w").close()
        with open(os.path.join(self.cache, peers.DEFT_STAMP), "w") as f:
            f.write('{"identity": "%s", "recipe": %d}' % (identity, recipe))
        with open(os.path.join(self.cache, peers.DEFT_CLASSPATH_FILE), "w") as f:
            f.write(jar + os.pathsep + dep + "\n")
        return dep

    def test_empty_cache_is_not_current(self):
        self.assertFalse(deft_build.is_current(self.cache, "sha256:abc"))

    def test_same_source_is_current_another_is_not(self):
        self.fake_build("sha256:abc")
        self.assertTrue(deft_build.is_current(self.cache, "sha256:abc"))
        self.assertFalse(deft_build.is_current(self.cache, "sha256:def"))

    def test_a_build_by_another_recipe_is_stale(self):
        self.fake_build("sha256:abc", recipe=deft_build.RECIPE + 1)
        self.assertFalse(deft_build.is_current(self.cache, "sha256:abc"))

    def test_a_dependency_jar_gone_makes_it_stale(self):
        os.remove(self.fake_build("sha256:abc"))
        self.assertFalse(deft_build.is_current(self.cache, "sha256:abc"))

    def test_without_its_classpath_file_a_build_is_incomplete(self):
        self.fake_build("sha256:abc")
        os.remove(os.path.join(self.cache, peers.DEFT_CLASSPATH_FILE))
        self.assertFalse(deft_build.is_current(self.cache, "sha256:abc"))


class DependencyJarsTest(TempDirTest):
    def test_all_present_in_debian_order(self):
        for _, jar in deft_build.DEBIAN_JARS:
            open(os.path.join(self.tmp, jar), "w").close()
        self.assertEqual(deft_build.dependency_jars(self.tmp),
                         [os.path.join(self.tmp, jar) for _, jar in deft_build.DEBIAN_JARS])

    def test_a_missing_jar_names_its_package(self):
        for _, jar in deft_build.DEBIAN_JARS:
            if jar != "logback-core.jar":
                open(os.path.join(self.tmp, jar), "w").close()
        with self.assertRaisesRegex(deft_build.BuildError, "apt-get install liblogback-java;"):
            deft_build.dependency_jars(self.tmp)


@unittest.skipUnless(shutil.which("javac") and shutil.which("java"), "no JDK")
class BuildTest(TempDirTest):
    def setUp(self):
        super().setUp()
        self.java_dir = os.path.join(self.tmp, "java")
        os.makedirs(self.java_dir)
        for _, jar in deft_build.DEBIAN_JARS:
            zipfile.ZipFile(os.path.join(self.java_dir, jar), "w").close()
        self.tarball = write_tarball(os.path.join(self.tmp, "deft.tar.gz"), FAKE_DEFT)

    def ensure(self, env=None, force=False):
        env = {"DEFT_SRC": self.tarball} if env is None else env
        with mock.patch.object(deft_build, "say"):
            return deft_build.ensure(env, self.root, self.cache, force, java_dir=self.java_dir)

    def test_builds_a_jar_and_its_classpath_once_per_source(self):
        first = self.ensure()
        self.assertEqual(first["status"], "built")
        jar = os.path.join(self.cache, peers.DEFT_JAR)
        with zipfile.ZipFile(jar) as z:
            names = set(z.namelist())
        self.assertTrue({"org/deftserver/web/HttpServer.class",
                         "org/deftserver/web/http/HttpRequest.class", "logback.xml"} <= names)
        self.assertEqual(first["classpath"], os.pathsep.join(
            [jar] + [os.path.join(self.java_dir, j) for _, j in deft_build.DEBIAN_JARS]))
        built_at = os.stat(jar).st_mtime_ns
        self.assertEqual(self.ensure()["status"], "current")
        self.assertEqual(os.stat(jar).st_mtime_ns, built_at)
        self.assertEqual(self.ensure(force=True)["status"], "built")

    def test_a_changed_source_is_rebuilt(self):
        self.ensure()
        write_tarball(self.tarball, dict(FAKE_DEFT, **{
            "src/main/java/org/deftserver/web/Extra.java":
                "package org.deftserver.web;\nclass Extra {}\n"}))
        self.assertEqual(self.ensure()["status"], "built")
        with zipfile.ZipFile(os.path.join(self.cache, peers.DEFT_JAR)) as z:
            self.assertIn("org/deftserver/web/Extra.class", z.namelist())

    def test_a_compile_error_is_one_line_and_leaves_the_cache_as_it_was(self):
        classpath = self.ensure()["classpath"]
        jar = os.path.join(self.cache, peers.DEFT_JAR)
        built_at = os.stat(jar).st_mtime_ns
        write_tarball(self.tarball, dict(FAKE_DEFT, **{
            "src/main/java/org/deftserver/web/HttpServer.java": "class {"}))
        with self.assertRaises(deft_build.BuildError) as caught:
            self.ensure()
        self.assertIn("javac", str(caught.exception))
        self.assertNotIn("\n", str(caught.exception))
        self.assertEqual(peers.cached_deft_classpath(self.cache), classpath)
        self.assertEqual(os.stat(jar).st_mtime_ns, built_at)
        self.assertEqual(sorted(os.listdir(self.cache)),
                         sorted([peers.DEFT_JAR, peers.DEFT_STAMP, peers.DEFT_CLASSPATH_FILE]))

    def test_with_nothing_to_build_from_any_cached_build_will_do(self):
        self.ensure()
        with mock.patch.object(deft_build, "clone") as clone:
            result = self.ensure(env={})
        clone.assert_not_called()
        self.assertEqual((result["status"], result["source"]), ("current", self.tarball))

    def test_with_nothing_cached_and_no_source_it_clones(self):
        with mock.patch.object(deft_build, "clone",
                               side_effect=deft_build.BuildError("no network")) as clone:
            with self.assertRaisesRegex(deft_build.BuildError, "no network"):
                self.ensure(env={})
        clone.assert_called_once()
        self.assertFalse(os.path.exists(os.path.join(self.cache, peers.DEFT_CLASSPATH_FILE)))

    def test_deft_classpath_overrides_and_nothing_is_built(self):
        result = self.ensure({"DEFT_CLASSPATH": "/x/deft.jar", "DEFT_SRC": self.tarball})
        self.assertEqual((result["status"], result["classpath"]), ("override", "/x/deft.jar"))
        self.assertFalse(os.path.exists(self.cache))

    def test_the_deft_peer_runs_from_the_cached_build(self):
        xdg = os.path.join(self.tmp, "xdg")
        self.cache = os.path.join(xdg, "hellepoll", "deft")
        self.ensure()
        with mock.patch.dict(os.environ, {"XDG_CACHE_HOME": xdg}):
            os.environ.pop("DEFT_CLASSPATH", None)
            deft = peers.Deft()
            self.assertEqual(deft.classpath(), peers.cached_deft_classpath(self.cache))
            self.assertEqual(deft.available(), (True, ""))
            self.assertEqual(deft.http_package(), "org.deftserver.web.http")


class CommandLineTest(unittest.TestCase):
    def run_module(self, *args, env=None):
        return subprocess.run([sys.executable, "-m", "analysis.deft_build"] + list(args),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=dict(os.environ, **(env or {})), check=False)

    def test_help_has_examples(self):
        done = self.run_module("--help")
        self.assertEqual(done.returncode, 0)
        self.assertIn(b"examples:", done.stdout)
        self.assertIn(b"DEFT_SRC", done.stdout)

    def test_a_missing_source_fails_with_one_line(self):
        done = self.run_module(env={"DEFT_SRC": "/nonexistent/deft", "DEFT_CLASSPATH": ""})
        self.assertEqual(done.returncode, 1)
        lines = done.stderr.decode().strip().splitlines()
        self.assertEqual(len(lines), 1, lines)
        self.assertIn("DEFT_SRC=/nonexistent/deft does not exist", lines[0])


if __name__ == "__main__":
    unittest.main()
