"""Flame graphs from a stored `perf script` excerpt: folding, layout, SVG, PNG."""

import os
import tempfile
import unittest
import xml.dom.minidom

from analysis.hellepoll_bench import flamegraph


SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "perf", "script.txt")
FLUSH = ("hellepoll::http::Connection<hellepoll::http::IoPolicy<(hellepoll::Trigger)0, "
         "hellepoll::http::GatherWrite> >::flush")


class FlameGraphTest(unittest.TestCase):
    def setUp(self):
        with open(SCRIPT) as f:
            self.stacks = flamegraph.collapse(f.read())

    def test_folds_root_first_with_kernel_marks_and_no_offsets(self):
        self.assertEqual(self.stacks, {
            "helloworld;hellepoll::Scheduler::run_once;" + FLUSH + ";__GI___writev;"
            "do_syscall_64_[k];_raw_spin_unlock_irqrestore_[k]": 1,
            "helloworld;hellepoll::Scheduler::run_once;hellepoll::http::RequestParser::parse": 2,
            "helloworld;[libc.so.6]": 1,
        })

    def test_top_self_counts_leaves(self):
        self.assertEqual(flamegraph.top_self(self.stacks, 2),
                         [("hellepoll::http::RequestParser::parse", 2),
                          ("[libc.so.6]", 1)])

    def test_layout_widths_follow_samples(self):
        rects, total = flamegraph.layout(self.stacks, 400.0, 0.0)
        self.assertEqual(total, 4)
        width = {node.name: w for node, _, w, _ in rects}
        self.assertAlmostEqual(width["all"], 400.0)
        self.assertAlmostEqual(width["hellepoll::Scheduler::run_once"], 300.0)
        self.assertAlmostEqual(width["hellepoll::http::RequestParser::parse"], 200.0)
        depth = {node.name: d for node, _, _, d in rects}
        self.assertEqual(depth["_raw_spin_unlock_irqrestore_[k]"], 6)

    def test_svg_is_well_formed_and_names_every_frame(self):
        svg = flamegraph.render_svg(self.stacks, "title <&>", "subtitle")
        doc = xml.dom.minidom.parseString(svg)
        titles = [t.firstChild.data for t in doc.getElementsByTagName("title")]
        self.assertIn("hellepoll::http::RequestParser::parse (2 samples, 50.00%)", titles)
        self.assertIn(FLUSH + " (1 samples, 25.00%)", titles)
        self.assertEqual(len(titles), 9)  # all, comm and the 7 distinct frames

    def test_png(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "f.png")
            flamegraph.render_png(self.stacks, "t", "s", path)
            with open(path, "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")


if __name__ == "__main__":
    unittest.main()
