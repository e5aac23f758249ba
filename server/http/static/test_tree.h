// For tests: a temporary directory tree, removed with the object.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "server/fd.h"

namespace hellepoll::http::static_files::testing {

class TempTree {
 public:
  TempTree() {
    char tmpl[] = "/tmp/hellepoll-tree-XXXXXX";
    EXPECT_NE(nullptr, ::mkdtemp(tmpl));
    dir_ = tmpl;
  }
  ~TempTree() {
    const std::string cmd = "rm -rf '" + dir_ + "'";
    EXPECT_EQ(0, std::system(cmd.c_str()));
  }
  TempTree(const TempTree&) = delete;
  TempTree& operator=(const TempTree&) = delete;

  const std::string& path() const { return dir_; }
  std::string operator/(const std::string& rel) const { return dir_ + "/" + rel; }

 private:
  std::string dir_;
};

inline void write_file(const std::string& path, const std::string& text) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  ASSERT_TRUE(fd) << path;
  ASSERT_EQ(static_cast<ssize_t>(text.size()), ::write(fd.get(), text.data(), text.size()));
}

}  // namespace hellepoll::http::static_files::testing
