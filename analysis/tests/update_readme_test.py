"""update_readme.py fills README's generated sections from result directories."""

import os
import shutil
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

# pylint: disable=wrong-import-position
import microbench  # noqa: E402
import update_readme  # noqa: E402
from hellepoll_bench import report, targets  # noqa: E402

README = """# Title

<!-- variants-table:begin -->
old variants
<!-- variants-table:end -->

<!-- speed-table:begin -->
old speed
<!-- speed-table:end -->

<!-- targets-table:begin -->
old targets
<!-- targets-table:end -->

<!-- microbench-table:begin -->
old microbench
<!-- microbench-table:end -->

Typed text stays.
"""


class UpdateReadmeTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.run_dir = os.path.join(self.tmp, "run")
        shutil.copytree(os.path.join(HERE, "fixtures", "result-a"), self.run_dir)
        report.write_reports(self.run_dir, plots=False)
        with open(os.path.join(self.run_dir, "targets.md"), "w") as f:
            f.write(targets.render(targets.evaluate(self.run_dir), self.run_dir))
        self.micro_dir = os.path.join(self.tmp, "micro")
        shutil.copytree(os.path.join(HERE, "fixtures", "microbench"), self.micro_dir)
        microbench.report(self.micro_dir)
        self.readme = os.path.join(self.tmp, "README.md")
        with open(self.readme, "w") as f:
            f.write(README)

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def read(self):
        with open(self.readme) as f:
            return f.read()

    def test_every_section_is_replaced_and_typed_text_kept(self):
        rc = update_readme.main(["update_readme.py", self.run_dir, "--targets", self.run_dir,
                                 "--microbench", self.micro_dir, "--readme", self.readme])
        self.assertEqual(0, rc)
        text = self.read()
        for old in ("old variants", "old speed", "old targets", "old microbench"):
            self.assertNotIn(old, text)
        self.assertIn("### The original README table, reproduced", text)
        self.assertIn("| target | server | rounds |", text)
        self.assertIn("| minimal (`GET /`, Host) | 20.0 ns | 80.0 ns | 70.0 ns | **4.00×** | 3.50× |", text)
        self.assertIn("Typed text stays.", text)

    def test_without_options_the_optional_sections_are_left_alone(self):
        self.assertEqual(0, update_readme.main(["update_readme.py", self.run_dir, "--readme", self.readme]))
        text = self.read()
        self.assertIn("old targets", text)
        self.assertIn("old microbench", text)
        self.assertNotIn("old speed", text)

    def test_a_targets_dir_without_targets_md_is_an_error(self):
        os.remove(os.path.join(self.run_dir, "targets.md"))
        with self.assertRaises(SystemExit):
            update_readme.main(["update_readme.py", self.run_dir, "--targets", self.run_dir,
                                "--readme", self.readme])
        self.assertIn("old targets", self.read())


if __name__ == "__main__":
    unittest.main()
