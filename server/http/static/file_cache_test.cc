// FileCache on a real tree: lookups go through the pool and are cached;
// concurrent opens share one lookup; directories give their index.html;
// the least recently used entry goes first; an expired entry is opened
// anew, and a response holding the old one still reads the old file.
#include "server/http/static/file_cache.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <string>
#include <thread>

#include "server/backend/epoll.h"
#include "server/http/static/open.h"
#include "server/http/static/test_tree.h"

namespace hellepoll::http::static_files {
namespace {

using namespace std::chrono_literals;

using testing::write_file;

std::string pread_all(const OpenFile& f) {
  std::string s(f.size, '\0');
  EXPECT_EQ(static_cast<ssize_t>(f.size), ::pread(f.fd.get(), s.data(), s.size(), 0));
  return s;
}

class FileCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = outer_ / "root";
    ASSERT_EQ(0, ::mkdir(dir_.c_str(), 0755));
    ASSERT_EQ(0, ::mkdir((dir_ + "/docs").c_str(), 0755));
    ASSERT_EQ(0, ::mkdir((dir_ + "/empty").c_str(), 0755));
    write_file(dir_ + "/index.html", "<h1>root</h1>");
    write_file(dir_ + "/docs/index.html", "<h1>docs</h1>");
    write_file(dir_ + "/style.css", "body{}");
    write_file(dir_ + "/a.bin", "a");
    write_file(dir_ + "/b.bin", "bb");
    write_file(dir_ + "/c.bin", "ccc");
    write_file(outer_ / "outside", "secret");
    ASSERT_EQ(0, ::symlink("../outside", (dir_ + "/out").c_str()));
  }
  void TearDown() override { cache_.reset(); }
  void make(FileCache::Options opts) {
    UniqueFd root(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(root);
    cache_ = std::make_unique<FileCache>(sched_, pool_, std::move(root), mime_, opts);
  }
  struct Got {
    bool done = false;
    FileCache::File file;
    int err = 0;
  };
  // open() and run the loop until its done().
  Got open(const std::string& rel) {
    Got g;
    cache_->open(rel, [&](FileCache::File f, int err) { g = Got{true, std::move(f), err}; });
    for (int i = 0; i < 500 && !g.done; ++i) sched_.run_once(10ms);
    EXPECT_TRUE(g.done) << rel;
    return g;
  }

  testing::TempTree outer_;
  std::string dir_;  // the root, inside outer_
  LevelScheduler sched_;
  BlockingPool pool_{sched_, 1};
  std::shared_ptr<const MimeTypes> mime_ =
      std::make_shared<const MimeTypes>(MimeTypes::from_text("text/html html\ntext/css css\n"));
  std::unique_ptr<FileCache> cache_;
};

TEST_F(FileCacheTest, ALookupIsCached) {
  make({});
  EXPECT_EQ(nullptr, cache_->find("style.css"));
  Got g = open("style.css");
  ASSERT_TRUE(g.file) << g.err;
  EXPECT_EQ(6u, g.file->size);
  EXPECT_EQ("text/css", g.file->content_type);
  EXPECT_EQ("body{}", pread_all(*g.file));
  char tag[kEtagMax];
  EXPECT_EQ(std::string_view(tag, format_etag(g.file->mtime, 6, tag)), g.file->etag_view());
  EXPECT_EQ(g.file, cache_->find("style.css"));
  EXPECT_EQ(1u, cache_->lookups());
}

TEST_F(FileCacheTest, ConcurrentOpensShareOneLookup) {
  make({});
  int answered = 0;
  for (int i = 0; i < 5; ++i) {
    cache_->open("a.bin", [&](FileCache::File f, int) {
      EXPECT_TRUE(f);
      ++answered;
    });
  }
  for (int i = 0; i < 500 && answered < 5; ++i) sched_.run_once(10ms);
  EXPECT_EQ(5, answered);
  EXPECT_EQ(1u, cache_->lookups());
}

TEST_F(FileCacheTest, DirectoriesAndErrors) {
  make({});
  Got root = open("");
  ASSERT_TRUE(root.file);
  EXPECT_EQ("<h1>root</h1>", pread_all(*root.file));
  EXPECT_EQ("text/html", root.file->content_type);
  EXPECT_TRUE(root.file->index);
  Got docs = open("docs");
  ASSERT_TRUE(docs.file);
  EXPECT_EQ("<h1>docs</h1>", pread_all(*docs.file));
  EXPECT_TRUE(docs.file->index);  // the handler redirects "docs" to "docs/"
  Got named = open("docs/index.html");
  ASSERT_TRUE(named.file);
  EXPECT_FALSE(named.file->index);
  EXPECT_EQ(kIsDirectory, open("empty").err);
  EXPECT_EQ(404, open_error_status(open("missing.txt").err));
  EXPECT_EQ(403, open_error_status(open("out").err));
  // A FIFO would block open() for a writer that never comes, and keep the
  // pool's thread: it is opened non-blocking and refused.
  ASSERT_EQ(0, ::mkfifo((dir_ + "/pipe").c_str(), 0644));
  EXPECT_EQ(403, open_error_status(open("pipe").err));
  EXPECT_EQ(nullptr, cache_->find("missing.txt"));  // failures are not cached
  EXPECT_EQ(3u, cache_->size());
}

TEST_F(FileCacheTest, SmallFilesAreReadWithTheirLookup) {
  make({.small_file = 2});
  Got a = open("a.bin");
  ASSERT_TRUE(a.file);
  EXPECT_TRUE(a.file->has_content);
  EXPECT_EQ("a", a.file->content);
  Got b = open("b.bin");
  ASSERT_TRUE(b.file);
  EXPECT_TRUE(b.file->has_content);
  EXPECT_EQ("bb", b.file->content);
  Got c = open("c.bin");  // one byte over
  ASSERT_TRUE(c.file);
  EXPECT_FALSE(c.file->has_content);
  EXPECT_EQ("", c.file->content);
  write_file(dir_ + "/empty.txt", "");
  Got e = open("empty.txt");
  ASSERT_TRUE(e.file);
  EXPECT_TRUE(e.file->has_content);
  EXPECT_EQ(0u, e.file->size);
}

TEST_F(FileCacheTest, PageCacheResidenceIsCheckedWithTheLookup) {
  make({});
  write_file(dir_ + "/cold.bin", std::string(1 << 20, 'c'));
  {
    UniqueFd f(::open((dir_ + "/cold.bin").c_str(), O_RDONLY | O_CLOEXEC));
    ASSERT_EQ(0, ::fdatasync(f.get()));  // dirty pages cannot be dropped
    ASSERT_EQ(0, ::posix_fadvise(f.get(), 0, 0, POSIX_FADV_DONTNEED));
  }
  Got cold = open("cold.bin");
  ASSERT_TRUE(cold.file);
  EXPECT_FALSE(cold.file->resident);
  ASSERT_EQ(1u << 20, pread_all(*cold.file).size());  // now it is read in
  cache_.reset();
  make({});
  Got warm = open("cold.bin");
  ASSERT_TRUE(warm.file);
  EXPECT_TRUE(warm.file->resident);
}

// The cache goes while the pool still runs its lookup: the lookup keeps
// the root open by itself, and its done() is never called.
TEST_F(FileCacheTest, ACacheDestroyedMidLookupIsNotCalledBack) {
  make({});
  pool_.set_delay(50ms);
  bool called = false;
  cache_->open("a.bin", [&](FileCache::File, int) { called = true; });
  std::this_thread::sleep_for(10ms);  // the pool thread is inside the work now
  cache_.reset();
  for (int i = 0; i < 20; ++i) sched_.run_once(10ms);
  EXPECT_EQ(0u, pool_.in_flight());
  EXPECT_FALSE(called);
}

TEST_F(FileCacheTest, AFileGoneSinceItsLookupLeavesTheCache) {
  make({.valid = 30ms});
  ASSERT_TRUE(open("a.bin").file);
  EXPECT_EQ(1u, cache_->size());
  ASSERT_EQ(0, ::unlink((dir_ + "/a.bin").c_str()));
  for (int i = 0; i < 10; ++i) sched_.run_once(10ms);
  EXPECT_EQ(404, open_error_status(open("a.bin").err));
  EXPECT_EQ(0u, cache_->size()) << "the deleted file's descriptor is still cached";
}

TEST_F(FileCacheTest, TheLeastRecentlyUsedGoesFirst) {
  make({.max_entries = 2});
  open("a.bin");
  open("b.bin");
  ASSERT_TRUE(cache_->find("a.bin"));  // a is now the more recent
  open("c.bin");
  EXPECT_EQ(2u, cache_->size());
  EXPECT_TRUE(cache_->find("a.bin"));
  EXPECT_FALSE(cache_->find("b.bin"));
  EXPECT_TRUE(cache_->find("c.bin"));
}

TEST_F(FileCacheTest, AnExpiredEntryIsOpenedAnewAndTheOldOneStillReads) {
  make({.valid = 30ms});
  Got first = open("a.bin");
  ASSERT_TRUE(first.file);
  // Replaced the way deploys do it: a new file renamed over the old name.
  write_file(dir_ + "/a.bin.new", "a newer, longer a");
  ASSERT_EQ(0, ::rename((dir_ + "/a.bin.new").c_str(), (dir_ + "/a.bin").c_str()));
  EXPECT_EQ(first.file, cache_->find("a.bin"));  // still valid: the cache does not know yet
  for (int i = 0; i < 10; ++i) sched_.run_once(10ms);
  EXPECT_EQ(nullptr, cache_->find("a.bin"));  // expired
  Got second = open("a.bin");
  ASSERT_TRUE(second.file);
  EXPECT_EQ("a newer, longer a", pread_all(*second.file));
  EXPECT_EQ("a", pread_all(*first.file));  // a response holding the old entry
  EXPECT_EQ(second.file, cache_->find("a.bin"));
  EXPECT_EQ(1u, cache_->size());
}

}  // namespace
}  // namespace hellepoll::http::static_files
