// open_beneath() on a real tree: files and inside symlinks open; symlinks
// that leave the root, absolute or climbing, are refused, with openat2 and
// with the /proc check that stands in where it is missing.
#include "server/http/static/open.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "server/http/static/test_tree.h"

namespace hellepoll::http::static_files {
namespace {

using testing::write_file;

std::string read_all(int fd) {
  std::string s;
  char buf[256];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) s.append(buf, static_cast<size_t>(n));
  return s;
}

class OpenBeneath : public ::testing::TestWithParam<Beneath> {
 protected:
  void SetUp() override {
    const std::string& dir = tree_.path();
    ASSERT_EQ(0, ::mkdir((dir + "/root").c_str(), 0755));
    ASSERT_EQ(0, ::mkdir((dir + "/root/sub").c_str(), 0755));
    write_file(dir + "/root/a.txt", "inside");
    write_file(dir + "/root/sub/b.txt", "deeper");
    write_file(dir + "/outside.txt", "secret");
    ASSERT_EQ(0, ::symlink("sub/b.txt", (dir + "/root/link-in").c_str()));
    ASSERT_EQ(0, ::symlink("../a.txt", (dir + "/root/sub/up-in").c_str()));
    ASSERT_EQ(0, ::symlink("../outside.txt", (dir + "/root/link-up").c_str()));
    ASSERT_EQ(0, ::symlink((dir + "/outside.txt").c_str(), (dir + "/root/link-abs").c_str()));
    ASSERT_EQ(0, ::symlink("/etc", (dir + "/root/etc").c_str()));
    ASSERT_EQ(0, ::symlink("..", (dir + "/root/sub/parent").c_str()));
    root_.reset(::open((dir + "/root").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(root_);
  }
  std::string open_read(const std::string& rel, int* err) {
    UniqueFd fd = open_beneath(root_.get(), rel, err, GetParam());
    return fd ? read_all(fd.get()) : std::string();
  }
  testing::TempTree tree_;
  UniqueFd root_;
};

TEST_P(OpenBeneath, FilesAndInsideSymlinksOpen) {
  int err = -1;
  EXPECT_EQ("inside", open_read("a.txt", &err));
  EXPECT_EQ(0, err);
  EXPECT_EQ("deeper", open_read("sub/b.txt", &err));
  EXPECT_EQ("deeper", open_read("link-in", &err));
  EXPECT_EQ("inside", open_read("sub/up-in", &err));  // climbs, but stays inside
  EXPECT_EQ("inside", open_read("sub/parent/a.txt", &err));
}

TEST_P(OpenBeneath, SymlinksOutOfTheRootAreRefused) {
  for (const char* rel : {"link-up", "link-abs", "etc/passwd", "etc/hostname", "sub/parent/link-up"}) {
    int err = 0;
    EXPECT_EQ("", open_read(rel, &err)) << rel;
    EXPECT_NE(0, err) << rel;
    EXPECT_EQ(403, open_error_status(err)) << rel << ": " << err;
  }
}

TEST_P(OpenBeneath, MissingIs404) {
  int err = 0;
  EXPECT_EQ("", open_read("nope.txt", &err));
  EXPECT_EQ(404, open_error_status(err));
  EXPECT_EQ("", open_read("a.txt/x", &err));  // ENOTDIR
  EXPECT_EQ(404, open_error_status(err));
}

INSTANTIATE_TEST_SUITE_P(Ways, OpenBeneath, ::testing::Values(Beneath::kOpenat2, Beneath::kCheckPath),
                         [](const auto& info) {
                           return info.param == Beneath::kOpenat2 ? "openat2" : "check_path";
                         });

}  // namespace
}  // namespace hellepoll::http::static_files
