// FileCache: one worker's open files, like nginx's open_file_cache.
//
// - An entry holds the open descriptor, size, mtime, ETag and Content-Type
//   of one file under the root; a name that is a directory resolves to its
//   index.html (kIsDirectory when it has none). A file of at most
//   `small_file` bytes is also read whole with its lookup, so that its
//   answer is one copy into the response instead of a sendfile().
// - find() answers from the cache, on the loop thread, without a syscall,
//   while the entry is younger than `valid`; open() asks the BlockingPool
//   (open, fstat: either may wait on the disk) and calls `done` on the loop
//   thread. Concurrent open()s of one name share one lookup.
// - An entry older than `valid` is looked up again (opened anew) on its
//   next open(): a file replaced or changed meanwhile gets a new entry; the
//   old one lives on while a response still holds it.
// - At most `max_entries`; the least recently used one goes first. Failed
//   lookups are not cached (a file created a moment later is found).
#pragma once

#include <cstdint>
#include <ctime>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "server/blocking_pool.h"
#include "server/fd.h"
#include "server/http/static/conditional.h"
#include "server/http/static/mime.h"
#include "server/scheduler.h"

namespace hellepoll::http::static_files {

struct OpenFile {
  UniqueFd fd;
  uint64_t size = 0;
  time_t mtime = 0;
  std::string_view content_type;  // in the cache's MimeTypes
  char etag[kEtagMax];
  uint8_t etag_len = 0;
  bool index = false;        // a directory's index.html, found under the directory's name
  bool has_content = false;  // `content` is the whole file (a small one)
  // Every page was in the page cache at the lookup (Response::send_file()'s
  // `cached`): the send checks only windows with 4 MiB or more after them
  // (write_path.h, kCheckFrom); a page of the last 4 MiB evicted since the
  // lookup makes one sendfile() wait on the disk.
  bool resident = false;
  std::string content;
  std::string_view etag_view() const { return {etag, etag_len}; }
};

// What a lookup that did not give a file says: an errno (open_error_status()
// maps it to a status), or kIsDirectory for a directory without index.html.
constexpr int kIsDirectory = -1;

class FileCache {
 public:
  struct Options {
    size_t max_entries = 1000;
    Duration valid = std::chrono::seconds(60);
    uint64_t small_file = 0;  // read files up to this size into the entry
  };
  using File = std::shared_ptr<const OpenFile>;
  using Done = std::function<void(File file, int err)>;

  // `root`: an open directory. A lookup still running on the pool when the
  // cache goes keeps the root and the table alive by itself.
  FileCache(Scheduler& sched, BlockingPool& pool, UniqueFd root, std::shared_ptr<const MimeTypes> mime,
            Options opts);
  ~FileCache();

  // The entry for `relative` ("" is the root) if cached and still valid.
  File find(std::string_view relative);
  // Looks `relative` up through the pool; `done` runs on the loop thread.
  void open(std::string_view relative, Done done);

  size_t size() const { return entries_.size(); }
  uint64_t lookups() const { return lookups_; }  // pool round trips

 private:
  struct Entry {
    File file;
    TimePoint checked;  // when it was looked up
    std::list<std::string>::iterator lru;
  };
  struct Lookup {
    File file;
    int err = 0;
  };
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  // What a lookup on a pool thread reads, shared with it.
  struct Tree {
    UniqueFd root;
    std::shared_ptr<const MimeTypes> mime;
    uint64_t small_file;
  };
  static Lookup look_up(const Tree& tree, const std::string& relative);
  void store(const std::string& relative, File file);
  void forget(const std::string& relative);

  Scheduler& sched_;
  BlockingPool& pool_;
  std::shared_ptr<const Tree> tree_;
  Options opts_;
  std::unordered_map<std::string, Entry, Hash, std::equal_to<>> entries_;
  std::list<std::string> lru_;  // most recent first
  std::unordered_map<std::string, std::vector<Done>, Hash, std::equal_to<>> pending_;
  uint64_t lookups_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace hellepoll::http::static_files
