"""The analysis code's variant list is read from variants/variants.bzl."""

import os
import tempfile
import unittest

from analysis.hellepoll_bench import variants

BZL = """
AXES = [
    ("trigger", {"lt": "kLevel", "et": "kEdge"}),
    ("write", {"write": "CopyWrite", "writev": "GatherWrite"}),
    ("workers", {"threads": "Threads", "procs": "Procs"%s}),
]
HELLOWORLD = "lt_writev_procs"
TITLES = {"workers": {"procs": "processes"}}

def variant_names():
    return []
"""


class VariantsTest(unittest.TestCase):
    def read(self, text):
        with tempfile.NamedTemporaryFile("w", suffix=".bzl") as f:
            f.write(text)
            f.flush()
            return variants.read(f.name)

    def test_order_is_helloworld_the_combinations_in_axes_order_then_floor(self):
        names = self.read(BZL % "").names()
        self.assertEqual(["helloworld", "lt_write_threads", "lt_write_procs", "lt_writev_threads",
                          "lt_writev_procs", "et_write_threads", "et_write_procs", "et_writev_threads",
                          "et_writev_procs", "floor"], names)

    def test_a_new_axis_value_is_a_new_variant(self):
        names = self.read(BZL % ', "fibers": "Fibers"').names()
        self.assertEqual(14, len(names))
        self.assertEqual(["lt_write_threads", "lt_write_procs", "lt_write_fibers"], names[1:4])
        self.assertEqual("et_writev_fibers", names[-2])

    def test_helloworld_takes_its_axes_from_helloworld(self):
        declared = self.read(BZL % "")
        self.assertEqual(["lt", "writev", "procs"], declared.axis_values("helloworld"))
        self.assertEqual(["et", "write", "threads"], declared.axis_values("et_write_threads"))

    def test_a_value_without_a_title_is_shown_by_its_name(self):
        declared = self.read(BZL % "")
        self.assertEqual("processes", declared.title("workers", "procs"))
        self.assertEqual("threads", declared.title("workers", "threads"))

    def test_a_helloworld_outside_the_axes_is_an_error(self):
        with self.assertRaises(ValueError):
            self.read(BZL.replace('"lt_writev_procs"', '"lt_writev_fibers"') % "")

    def test_a_value_with_an_underscore_is_an_error(self):
        # Names are values joined by "_": "io_uring" could not be split back.
        with self.assertRaises(ValueError):
            self.read(BZL.replace('"et": "kEdge"', '"io_uring": "kUring"') % "")

    def test_what_a_variant_shows_comes_from_shows(self):
        declared = self.read(BZL % "" + 'SHOWS = {"trigger": {"et": "reads until EAGAIN"}}\n')
        self.assertEqual("reads until EAGAIN", declared.what_it_shows(["et", "write", "procs"]))
        self.assertEqual("", declared.what_it_shows(["lt", "write", "procs"]))

    def test_floors_follow_the_combinations_with_the_axis_values_they_share(self):
        declared = self.read(BZL % "" + 'FLOORS = {"floor": "lt_write_procs", "et_floor": "et_write_procs"}\n')
        self.assertEqual(["floor", "et_floor"], declared.names()[-2:])
        self.assertEqual(["et", "write", "procs"], declared.axis_values("et_floor"))

    def test_without_floors_there_is_the_epoll_floor(self):
        declared = self.read(BZL % "")
        self.assertEqual("floor", declared.names()[-1])
        self.assertEqual(["lt", "write", "procs"], declared.axis_values("floor"))

    def test_a_floor_outside_the_axes_is_an_error(self):
        with self.assertRaises(ValueError):
            self.read(BZL % "" + 'FLOORS = {"uring_floor": "uring_write_procs"}\n')

    def test_variants_with_an_axis_value(self):
        declared = self.read(BZL % "")
        self.assertEqual(["et_write_threads", "et_write_procs", "et_writev_threads", "et_writev_procs"],
                         declared.with_value("trigger", "et"))

    def test_a_file_without_axes_is_an_error(self):
        with self.assertRaises(ValueError):
            self.read('HELLOWORLD = "lt"\n')

    def test_the_repository_list_comes_from_its_variants_bzl(self):
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        declared = variants.read(os.path.join(root, "variants", "variants.bzl"))
        self.assertEqual(tuple(declared.names()), variants.VARIANTS)
        self.assertIn(declared.helloworld, variants.VARIANTS)
        # The reference run (every variant by default) has the uring variants and both floors.
        for name in ("uring_writev_procs", "floor", "uring_floor"):
            self.assertIn(name, variants.VARIANTS)


if __name__ == "__main__":
    unittest.main()
