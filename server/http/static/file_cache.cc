#include "server/http/static/file_cache.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "server/http/static/open.h"

namespace hellepoll::http::static_files {

FileCache::FileCache(Scheduler& sched, BlockingPool& pool, UniqueFd root,
                     std::shared_ptr<const MimeTypes> mime, Options opts)
    : sched_(sched),
      pool_(pool),
      tree_(std::make_shared<const Tree>(Tree{std::move(root), std::move(mime), opts.small_file})),
      opts_(opts) {}

FileCache::~FileCache() { *alive_ = false; }

FileCache::File FileCache::find(std::string_view relative) {
  auto it = entries_.find(relative);
  if (it == entries_.end()) return nullptr;
  if (sched_.now() - it->second.checked >= opts_.valid) return nullptr;  // open() looks again
  lru_.splice(lru_.begin(), lru_, it->second.lru);
  return it->second.file;
}

void FileCache::open(std::string_view relative, Done done) {
  auto [it, first] = pending_.try_emplace(std::string(relative));
  it->second.push_back(std::move(done));
  if (!first) return;  // the lookup under way answers this one too
  ++lookups_;
  auto result = std::make_shared<Lookup>();
  std::string name(relative);
  pool_.run([result, tree = tree_, name] { *result = look_up(*tree, name); },
            [this, alive = alive_, result, name] {
              if (!*alive) return;
              if (result->file) {
                store(name, result->file);
              } else {
                forget(name);  // gone or refused now: its descriptor closes with the last response holding it
              }
              auto waiting = pending_.extract(name);
              for (Done& d : waiting.mapped()) d(result->file, result->err);
            });
}

namespace {

// Whether every page of the file is in the page cache: mincore() of a
// mapping that is never touched (no page is read), a window at a time, so
// that a huge file costs a bounded vector and stops at its first miss.
bool in_page_cache(int fd, uint64_t size) {
  constexpr uint64_t kWindow = 64 << 20;
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> pages(kWindow / page);
  for (uint64_t at = 0; at < size; at += kWindow) {
    const size_t len = static_cast<size_t>(std::min(kWindow, size - at));
    void* m = ::mmap(nullptr, len, PROT_READ, MAP_SHARED, fd, static_cast<off_t>(at));
    if (m == MAP_FAILED) return false;
    bool all = ::mincore(m, len, pages.data()) == 0;
    for (size_t i = 0; all && i < (len + page - 1) / page; ++i) all = pages[i] & 1;
    ::munmap(m, len);
    if (!all) return false;
  }
  return true;
}

}  // namespace

// On a pool thread: open (beneath the root), fstat; a directory's
// index.html in its place; a small file's bytes.
FileCache::Lookup FileCache::look_up(const Tree& tree, const std::string& relative) {
  const int root = tree.root.get();
  Lookup r;
  std::string name = relative.empty() ? std::string(".") : relative;
  UniqueFd fd;
  struct stat st {};
  bool index = false;
  for (int tries = 0; tries < 2; ++tries) {
    if (name == ".") {
      fd.reset(::openat(root, ".", O_RDONLY | O_CLOEXEC | O_DIRECTORY | O_NONBLOCK));
      if (!fd) r.err = errno;
    } else {
      fd = open_beneath(root, name, &r.err);
    }
    if (!fd) {
      if (tries == 1 && r.err == ENOENT) r.err = kIsDirectory;  // a directory without index.html
      return r;
    }
    if (::fstat(fd.get(), &st) != 0) {
      r.err = errno;
      return r;
    }
    if (S_ISREG(st.st_mode)) break;
    if (!S_ISDIR(st.st_mode) || tries == 1) {
      r.err = S_ISDIR(st.st_mode) ? kIsDirectory : EACCES;  // a device, a fifo: never read
      return r;
    }
    name = relative.empty() ? std::string("index.html") : relative + "/index.html";
    index = true;
    fd.reset();
  }
  auto f = std::make_shared<OpenFile>();
  f->size = static_cast<uint64_t>(st.st_size);
  f->mtime = st.st_mtim.tv_sec;
  f->content_type = tree.mime->type_of(name);
  f->index = index;
  if (f->size <= tree.small_file) {
    // One byte more than the size: a file that grew since the fstat is
    // not taken for whole, and goes out through sendfile() instead.
    f->content.resize(f->size + 1);
    size_t got = 0;
    while (got < f->content.size()) {
      const ssize_t n =
          ::pread(fd.get(), f->content.data() + got, f->content.size() - got, static_cast<off_t>(got));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    f->has_content = got == f->size;
    f->content.resize(f->has_content ? got : 0);
  }
  if (!f->has_content) f->resident = in_page_cache(fd.get(), f->size);
  f->etag_len = static_cast<uint8_t>(format_etag(f->mtime, f->size, f->etag));
  f->fd = std::move(fd);
  r.file = std::move(f);
  return r;
}

void FileCache::forget(const std::string& relative) {
  auto it = entries_.find(relative);
  if (it == entries_.end()) return;
  lru_.erase(it->second.lru);
  entries_.erase(it);
}

void FileCache::store(const std::string& relative, File file) {
  auto it = entries_.find(relative);
  if (it != entries_.end()) {
    it->second.file = std::move(file);
    it->second.checked = sched_.now();
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    return;
  }
  if (opts_.max_entries == 0) return;
  if (entries_.size() >= opts_.max_entries) {
    entries_.erase(lru_.back());
    lru_.pop_back();
  }
  lru_.push_front(relative);
  entries_.emplace(relative, Entry{std::move(file), sched_.now(), lru_.begin()});
}

}  // namespace hellepoll::http::static_files
