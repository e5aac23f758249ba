// OutBuffer: the bytes owed to one connection's peer, in wire order.
//
// `bytes` is the main stream: status lines, headers, and every body the write
// path copied. A body that is sent without copying (the writev path) is a
// BodyRef: a piece spliced into the stream at offset `at` of `bytes`, taken
// either from `bodies` (bodies a handler buffered) or from memory the handler
// guarantees outlives the response (send_static). Only the writev path
// creates BodyRefs, so the write path's flush is one contiguous write.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "server/http/buffer.h"

namespace hellepoll::http {

// Where a finished response's body lives when the write path places it.
enum class BodySource : uint8_t {
  kBuffered,   // in `bodies` from `body_mark` on: Response::write() calls
  kStatic,     // memory that outlives the response: send_static()
  kTransient,  // the caller's memory, valid only during the call: send()
};

struct BodyRef {
  uint32_t at;  // offset in `bytes` where this piece goes
  uint32_t len;
  uint32_t bodies_off;  // used when ext == nullptr
  const char* ext;      // external memory, or nullptr for `bodies`
};

// A file's bytes spliced into the stream at offset `at` of `bytes`, sent
// from the file by the kernel (sendfile) without passing through this
// process. The descriptor stays open while the OutBuffer holds the
// FileRef's `hold` (the open-file cache's entry).
// sendfile() waits for the disk when the bytes are not in the page cache,
// so a file's bytes go out only as far as they are known to be there, and
// the rest is read off the loop first (write_path.h, file_ready()).
struct FileRef {
  uint32_t at;
  int fd;
  uint64_t offset;  // in the file
  uint64_t len;
  // Below this file offset the bytes were found in the page cache (or read
  // ahead) at checked_ms, a coarse monotonic time in milliseconds.
  uint64_t checked_to;
  uint64_t checked_ms;
  // Below this one a check found some of them missing: no use asking again.
  uint64_t cold_to;
  // The caller said all of the file was cached, and no check has said
  // otherwise since: its last bytes are taken on that word.
  bool trusted;
};

struct OutBuffer {
  static constexpr uint32_t kMaxRefs = 64;
  static constexpr uint32_t kMaxFiles = 8;

  ByteBuffer bytes;
  ByteBuffer bodies;
  ByteBuffer extra;  // header lines added by the handler, for the response being built
  BodyRef refs[kMaxRefs];
  uint32_t nrefs = 0;
  uint32_t body_mark = 0;  // where the response being built starts in `bodies`
  size_t sent = 0;         // bytes of the whole stream already written

  size_t ref_bytes = 0;  // sum of refs[].len

  FileRef files[kMaxFiles];
  std::shared_ptr<const void> holds[kMaxFiles];
  uint32_t nfiles = 0;
  uint64_t file_bytes = 0;  // sum of files[].len
  // What a flush that returned kReadAhead waits for: files[warm_file]'s
  // bytes from the file offset warm_at on, read ahead on the pool.
  uint32_t warm_file = 0;
  uint64_t warm_at = 0;

  // A gathered send that completes later (io_uring) reads its message
  // header and iovecs after the call that built them: they live here, made
  // the first time this pooled buffer sends that way.
  struct Gather {
    msghdr msg;
    iovec iov[2 * kMaxRefs + 1];
  };
  std::unique_ptr<Gather> gather;

  // io_uring: a file's bytes are read through the ring into this buffer,
  // then sent from it; [bounce_sent, bounce_len) is read and not yet sent.
  // The connection lends one (ConnectionContext::take_bounce()) to a buffer
  // it sends files from, until the buffer goes back to its pool.
  static constexpr uint32_t kBounceBytes = 128 * 1024;
  std::unique_ptr<char[]> bounce;
  uint32_t bounce_len = 0;
  uint32_t bounce_sent = 0;

  size_t total() const { return bytes.size() + ref_bytes + file_bytes; }
  bool pending() const { return sent < total(); }
  void add_ref(BodyRef r) {
    refs[nrefs++] = r;
    ref_bytes += r.len;
  }
  // The file's bytes go here, after what `bytes` holds now. Room for one
  // more is what full() leaves.
  // `cached`: the caller knows the bytes are in the page cache.
  void add_file(int fd, uint64_t offset, uint64_t len, std::shared_ptr<const void> hold, bool cached) {
    if (nfiles == kMaxFiles) std::abort();  // the caller skipped full()
    files[nfiles] = FileRef{static_cast<uint32_t>(bytes.size()), fd, offset, len, offset, 0, offset, cached};
    holds[nfiles++] = std::move(hold);
    file_bytes += len;
  }
  // Back-pressure: stop producing when this much is queued.
  bool full(size_t high_water) const {
    return nrefs + 2 > kMaxRefs || nfiles == kMaxFiles || bytes.size() + bodies.size() > high_water;
  }
  // Everything queued has been written. Keeps what the response still
  // being built has stored (its body bytes from body_mark on, its header
  // lines in `extra`): a deferred handler may have written them before the
  // answers ahead of it went out.
  void sent_all() {
    bytes.clear();
    nrefs = 0;
    ref_bytes = 0;
    drop_files();
    sent = 0;
    if (body_mark != 0) {
      bodies.consume(body_mark);
      body_mark = 0;
    }
  }
  // Moves every finished byte (the stream, its refs, the buffered bodies
  // they point into) to `to`, an empty buffer, without copying it: `to`
  // is sent while this one goes on taking responses, so a send that
  // completes later reads memory nothing appends to. What the response being
  // built has stored stays here.
  void hand_over(OutBuffer& to) {
    bytes.swap(to.bytes);
    std::memcpy(to.refs, refs, nrefs * sizeof(BodyRef));
    to.nrefs = nrefs;
    to.ref_bytes = ref_bytes;
    for (uint32_t i = 0; i < nfiles; ++i) {
      to.files[i] = files[i];
      to.holds[i] = std::move(holds[i]);
    }
    to.nfiles = nfiles;
    to.file_bytes = file_bytes;
    nfiles = 0;
    file_bytes = 0;
    to.sent = sent;
    if (body_mark != 0) {
      bodies.swap(to.bodies);
      bodies.append(to.bodies.data() + body_mark, to.bodies.size() - body_mark);
      to.bodies.truncate(body_mark);
      body_mark = 0;
    }
    bytes.clear();
    nrefs = 0;
    ref_bytes = 0;
    sent = 0;
  }
  // Forgets the response being built (its handler failed or timed out).
  void drop_building() {
    bodies.truncate(body_mark);
    extra.clear();
  }
  void reset() {
    bytes.clear();
    bodies.clear();
    extra.clear();
    nrefs = 0;
    ref_bytes = 0;
    drop_files();
    body_mark = 0;
    sent = 0;
  }
  void drop_files() {
    for (uint32_t i = 0; i < nfiles; ++i) holds[i].reset();
    nfiles = 0;
    file_bytes = 0;
    bounce_len = 0;
    bounce_sent = 0;
  }
};

}  // namespace hellepoll::http
