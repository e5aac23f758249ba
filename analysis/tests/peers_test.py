"""Peer configs: rendered from analysis/peers/ templates, one worker, no access log."""

import os
import shutil
import subprocess
import tempfile
import unittest
import zipfile
from unittest import mock

from analysis.hellepoll_bench import peers, scenarios


class NginxConfigTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.text = peers.Nginx().config(43210, self.tmp)

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def test_one_worker_no_access_log_hello_world(self):
        self.assertIn("worker_processes 1;", self.text)
        self.assertIn("access_log off;", self.text)
        self.assertIn('return 200 "Hello World";', self.text)
        self.assertIn("listen 127.0.0.1:43210", self.text)
        self.assertIn("daemon off;", self.text)

    def test_everything_it_writes_is_in_its_own_dir(self):
        for line in self.text.splitlines():
            if line.strip().startswith(("pid", "error_log", "client_body", "proxy_temp")):
                self.assertIn(self.tmp, line)

    @unittest.skipUnless(peers.Nginx().available()[0], "nginx not installed")
    def test_nginx_accepts_it(self):
        path = os.path.join(self.tmp, "nginx.conf")
        with open(path, "w") as f:
            f.write(self.text)
        done = subprocess.run([peers.Nginx().binary(), "-t", "-p", self.tmp, "-c", path, "-e",
                               os.path.join(self.tmp, "error.log")], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, check=False)
        self.assertEqual(done.returncode, 0, done.stdout.decode())


class H2oConfigTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def test_one_thread_mruby_hello(self):
        text = peers.H2o().config(43211, self.tmp, mruby=True)
        self.assertIn("num-threads: 1", text)
        self.assertIn("port: 43211", text)
        self.assertIn('["Hello World"]', text)
        self.assertNotIn("access-log", text)

    def test_file_fallback_without_mruby(self):
        text = peers.H2o().config(43211, self.tmp, mruby=False)
        self.assertIn("file.file: %s/hello.txt" % self.tmp, text)

    @unittest.skipUnless(peers.H2o().available()[0], "h2o not installed")
    def test_h2o_accepts_it(self):
        h2o = peers.H2o()
        path = os.path.join(self.tmp, "h2o.conf")
        with open(path, "w") as f:
            f.write(h2o.config(43211, self.tmp, mruby=h2o.has_mruby()))
        done = subprocess.run([h2o.binary(), "-t", "-c", path], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, check=False)
        self.assertEqual(done.returncode, 0, done.stdout.decode())


class DeftTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def jar(self, *classes):
        path = os.path.join(self.tmp, "deft-0.4.0.jar")
        with zipfile.ZipFile(path, "w") as z:
            for c in classes:
                z.writestr(c.replace(".", "/") + ".class", b"\xca\xfe\xba\xbe")
        return path

    def cached_build(self, *entries):
        """A cache under self.tmp (XDG_CACHE_HOME) whose classpath file lists entries."""
        cache = os.path.join(self.tmp, "hellepoll", "deft")
        os.makedirs(cache)
        with open(os.path.join(cache, peers.DEFT_CLASSPATH_FILE), "w") as f:
            f.write(os.pathsep.join(entries) + "\n")

    def test_without_a_build_it_is_not_installed_and_says_how(self):
        with mock.patch.dict(os.environ, {"XDG_CACHE_HOME": self.tmp}):
            os.environ.pop("DEFT_CLASSPATH", None)
            ok, why = peers.Deft().available()
        self.assertFalse(ok)
        self.assertTrue(why.startswith("not installed"))
        self.assertIn("./hellepoll setup reproduce", why)
        self.assertIn(os.path.join(self.tmp, "hellepoll", "deft"), why)
        self.assertIn("DEFT_CLASSPATH", why)
        self.assertNotIn("mvn", why)

    def test_the_cached_build_is_used_unless_deft_classpath_is_set(self):
        jar = self.jar("org.deftserver.web.HttpServer")
        self.cached_build(jar, "/usr/share/java/guava.jar")
        with mock.patch.dict(os.environ, {"XDG_CACHE_HOME": self.tmp}):
            os.environ.pop("DEFT_CLASSPATH", None)
            self.assertEqual(peers.Deft().classpath(), jar + os.pathsep + "/usr/share/java/guava.jar")
            os.environ["DEFT_CLASSPATH"] = "/elsewhere/deft.jar"
            self.assertEqual(peers.Deft().classpath(), "/elsewhere/deft.jar")

    def test_a_cached_build_whose_jar_is_gone_says_to_rerun_setup(self):
        jar = self.jar("org.deftserver.web.HttpServer", "org.deftserver.web.http.HttpRequest")
        gone = os.path.join(self.tmp, "gone", "logback-core.jar")
        self.cached_build(jar, gone)
        with mock.patch.dict(os.environ, {"XDG_CACHE_HOME": self.tmp}), \
                mock.patch("shutil.which", return_value="/usr/bin/java"):
            os.environ.pop("DEFT_CLASSPATH", None)
            ok, why = peers.Deft().available()
        self.assertFalse(ok)
        self.assertIn(gone, why)
        self.assertIn("./hellepoll setup reproduce", why)

    def test_declares_its_jit_warm_up_and_its_pipelining_limit(self):
        deft = peers.Deft()
        self.assertGreater(deft.min_warmup_s, scenarios.PROFILES["default"].warmup_s)
        self.assertIn("cold", deft.cold_note)
        self.assertEqual(deft.pipeline_note, "answers only the first request of a pipelined batch")
        for peer in peers.PEERS:
            if peer.name != "deft":
                self.assertEqual((peer.min_warmup_s, peer.cold_note, peer.pipeline_note),
                                 (0.0, "", ""), peer.name)

    def test_classpath_without_deft_is_not_installed(self):
        with mock.patch.dict(os.environ, {"DEFT_CLASSPATH": self.jar("org.example.Foo")}):
            ok, why = peers.Deft().available()
        self.assertFalse(ok)
        self.assertIn("not installed", why)

    def test_2011_package_is_detected_and_rendered(self):
        jar = self.jar("org.deftserver.web.HttpServer", "org.deftserver.web.http.HttpRequest")
        with mock.patch.dict(os.environ, {"DEFT_CLASSPATH": jar}):
            deft = peers.Deft()
            self.assertEqual(deft.http_package(), "org.deftserver.web.http")
            source = deft.source()
            self.assertIn("deft-0.4.0.jar", deft.version())
        self.assertIn("import org.deftserver.web.http.HttpRequest;", source)
        self.assertIn("IOLoop.INSTANCE.start();", source)
        self.assertIn('response.write("Hello World");', source)

    @unittest.skipUnless(shutil.which("javac"), "no JDK")
    def test_rendered_source_compiles_against_deft_s_api(self):
        stub = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures",
                            "deft_api_stub")
        classes = os.path.join(self.tmp, "classes")
        sources = [os.path.join(d, f) for d, _, fs in os.walk(stub) for f in fs
                   if f.endswith(".java")]
        done = subprocess.run(["javac", "-d", classes] + sources, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, check=False)
        self.assertEqual(done.returncode, 0, done.stdout.decode())
        with mock.patch.dict(os.environ, {"DEFT_CLASSPATH": classes}):
            deft = peers.Deft()
            self.assertEqual(deft.available(), (True, ""))
            path = os.path.join(self.tmp, "HelloDeft.java")
            with open(path, "w") as f:
                f.write(deft.source())
        done = subprocess.run(["javac", "-cp", classes, "-d", self.tmp, path],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
        self.assertEqual(done.returncode, 0, done.stdout.decode())

    def test_2010_package_and_wildcard_classpath(self):
        self.jar("org.deftserver.web.HttpServer", "org.deftserver.web.protocol.HttpRequest")
        with mock.patch.dict(os.environ, {"DEFT_CLASSPATH": os.path.join(self.tmp, "*")}):
            self.assertEqual(peers.Deft().http_package(), "org.deftserver.web.protocol")


class PeerListTest(unittest.TestCase):
    def test_the_issue_s_peers_in_table_order(self):
        self.assertEqual([p.name for p in peers.PEERS], ["nginx", "h2o", "node", "deft", "tornado"])

    def test_missing_program_is_a_line_not_a_crash(self):
        with mock.patch("shutil.which", return_value=None), \
                mock.patch("os.access", return_value=False):
            for peer in (peers.Nginx(), peers.H2o(), peers.Node()):
                ok, why = peer.available()
                self.assertFalse(ok)
                self.assertIn("apt-get install", why)

    def test_peer_files_exist(self):
        for name in ("nginx.conf.in", "h2o.conf.in", "tornado_hello.py", "node_hello.js",
                     os.path.join("deft", "HelloDeft.java.in")):
            self.assertTrue(os.path.isfile(os.path.join(peers.PEERS_DIR, name)), name)


if __name__ == "__main__":
    unittest.main()
