// StaticFiles: the handler that serves a directory tree, mounted on a stem:
//
//   router.stem("/static/", kGetHead, StaticFiles("/srv/www"));
//
// What a request gets, in order (nginx's answers, except where noted):
// - The path after the stem, under the path rules (path.h): 400 for a
//   malformed or climbing path, 404 for a dotfile unless `dotfiles`.
// - Each worker has its own open-file cache (FileCache, in its
//   WorkerLocals): a hit is answered in the handler, with no syscall
//   before the send; a miss defers the response while the worker's
//   BlockingPool opens and stats the file, so the loop never waits on the
//   disk, and other requests are served meanwhile.
// - Not there: 404; not readable, or leaving the root by a symlink: 403.
//   A directory named without its trailing '/': 301 to the name with it
//   (its query kept); with it: its index.html, else 403 (no listings).
//   A file named with a trailing '/': 404.
// - Then plan_file_response() (plan.h): 304, 206, 405, 412 or 416 as the
//   validators and Range say; 200, 206 and 304 carry ETag and
//   Last-Modified, 200 and 206 "Accept-Ranges: bytes".
// - The body: a file of at most `small_file` bytes was read with its
//   lookup and is copied into the response (one send with its head); a
//   larger one goes out from the file (Response::send_file(): sendfile()
//   of bytes in the page cache; bytes that are not, read ahead on the
//   pool (epoll) or read through the ring (io_uring) first).
// Differences from nginx, on purpose: dotfiles are 404 by default; ".." in
// any spelling is 400, even when it would land inside the root; several
// ranges are answered with the whole file (200), not multipart.
#pragma once

#include <memory>
#include <string>

#include "server/http/request.h"
#include "server/http/response.h"
#include "server/http/static/file_cache.h"

namespace hellepoll::http::static_files {

struct StaticOptions {
  bool dotfiles = false;  // serve names that start with '.'
  // A file up to this size is read whole with its lookup and copied into
  // the response (one send with its head); a larger one is sent from the
  // file. Copying costs 0.72-0.80x the CPU of sendfile() up to 16 KiB on
  // epoll and 1.03-1.04x from 32 KiB on; io_uring gains through 64 KiB
  // (0.47-0.56x to 16 KiB, 0.77x at 32, 0.93x at 64): results/README.md,
  // "Static files". The cache then holds up to max_entries such copies.
  uint64_t small_file = 16 * 1024;
  FileCache::Options cache;  // entries per worker, revalidation interval
  std::string mime_types = "/etc/mime.types";
};

class StaticFiles {
 public:
  // Opens `root` now: error() says if it cannot be served. Sets SIGPIPE
  // to ignored if it is at its default (see Response::send_file()).
  explicit StaticFiles(const std::string& root, StaticOptions opts = {});
  // Empty when the root is a readable directory; else one line saying why.
  const std::string& error() const { return shared_->error; }
  // A line about the MIME table when it could not be read (every file is
  // then application/octet-stream), else empty.
  const std::string& mime_error() const { return shared_->mime->error(); }

  void operator()(Request& req, Response& res) const;

 private:
  struct Shared {
    StaticOptions opts;
    UniqueFd root;
    std::shared_ptr<const MimeTypes> mime;
    std::string error;
  };
  struct Local;
  Local& local(Request& req) const;
  std::shared_ptr<const Shared> shared_;
};

}  // namespace hellepoll::http::static_files
