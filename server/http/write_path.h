// The write-path axis: how a finished response reaches the kernel.
//
// - CopyWrite ("write"): every body is copied behind its head into one
//   contiguous buffer that goes out with one send(). Costs one memcpy per
//   body (Response::send()'s body is copied straight from the handler's
//   memory); the kernel sees one flat buffer.
// - GatherWrite ("writev"): heads go into the buffer, bodies of at least
//   kGatherFrom bytes stay where they are (a static body, or the handler's
//   buffered body) and the whole queue goes out as an iovec with one
//   sendmsg(), writev() by another name. No copy of a large static or
//   buffered body (Response::send()'s body, which may die with the call, is
//   copied once); the kernel walks several segments. Smaller bodies are
//   copied like CopyWrite's, and a queue with no gathered body goes out with
//   send(): each iovec segment costs the kernel more than copying a few
//   hundred bytes does (keepalive-c25 with an 11-byte body: writev of head +
//   body cost ~4% more server CPU than one write()).
// Both flush every response queued by one batch of pipelined requests in a
// single syscall. `last`: the connection closes as soon as this is written;
// the bytes then go with MSG_MORE, so that close() sends them together with
// its FIN in one segment and the client reads the reply and the end of the
// stream in one wake-up, not two (ab -c25: a new connection per request).
//
// On io_uring the same split holds, as operations that complete later:
// submit() queues one send (write) or one sendmsg with the iovecs (writev)
// of a buffer that nothing appends to until the completion (hand_over()).
// Files are the exception (submit_files()): cached bytes go out with
// sendfile() from the loop, the rest through the ring's reads.
//
// Socket calls, not write()/writev(): send() and sendmsg() skip the VFS
// layer (rw_verify_area, the kiocb, sock_write_iter), ~70 ns a call (a
// loopback ping-pong on a VM, alternating the two), and
// MSG_NOSIGNAL turns a write to a reset peer into EPIPE whether or not the
// embedding program ignores SIGPIPE.
#pragma once

#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <memory>
#include <string_view>

#include "server/backend/uring.h"
#include "server/http/out_buffer.h"

namespace hellepoll::http {

// kReadAhead: the next bytes are a file's not known to be in the page cache
// (out.warm_file says which, out.warm_at from where): read them ahead off
// the loop, then flush again.
// kYield: this flush sent its turn's share of file bytes and the socket
// would take more: flush again next turn, after the other connections.
enum class FlushResult : uint8_t { kDone, kBlocked, kError, kReadAhead, kYield };

inline int send_flags(bool last) { return last ? MSG_MORE | MSG_NOSIGNAL : MSG_NOSIGNAL; }

// After a call that sent `w` bytes (or -1): true to go on (progress, or
// EINTR); false with *stop saying why the flush ends here.
inline bool sent_some(OutBuffer& out, ssize_t w, FlushResult* stop) {
  if (w > 0) {
    out.sent += static_cast<size_t>(w);
    return true;
  }
  if (w < 0 && errno == EINTR) return true;
  *stop = w < 0 && errno == EAGAIN ? FlushResult::kBlocked : FlushResult::kError;
  return false;
}

// Sends out.bytes from out.sent on: the whole queue when no body is gathered.
inline FlushResult flush_contiguous(int fd, OutBuffer& out, bool last) {
  FlushResult stop = FlushResult::kDone;
  while (out.sent < out.bytes.size()) {
    const char* p = out.bytes.data() + out.sent;
    const size_t len = out.bytes.size() - out.sent;
    if (!sent_some(out, ::send(fd, p, len, send_flags(last)), &stop)) return stop;
  }
  return FlushResult::kDone;
}

// The stream in wire order, as segments: pieces of `bytes`, the BodyRefs
// and the FileRefs spliced in at their offsets. fn(mem, file, len) is called
// with either `mem` or `file` set, until it returns false.
template <class Fn>
void for_each_segment(const OutBuffer& out, Fn&& fn) {
  uint32_t pos = 0;
  uint32_t i = 0;
  uint32_t j = 0;
  for (;;) {
    // A file and a body never share an offset: each follows its own head.
    const bool ref = i < out.nrefs && (j == out.nfiles || out.refs[i].at < out.files[j].at);
    const bool file = !ref && j < out.nfiles;
    const uint32_t at = ref    ? out.refs[i].at
                        : file ? out.files[j].at
                               : static_cast<uint32_t>(out.bytes.size());
    if (at > pos && !fn(out.bytes.data() + pos, nullptr, uint64_t{at - pos})) return;
    pos = at;
    if (ref) {
      const BodyRef& r = out.refs[i++];
      if (!fn(r.ext ? r.ext : out.bodies.data() + r.bodies_off, nullptr, uint64_t{r.len})) return;
    } else if (file) {
      const FileRef& f = out.files[j++];
      if (!fn(nullptr, &f, f.len)) return;
    } else {
      return;
    }
  }
}

// Bytes of a file a sendfile() call offers the socket.
constexpr size_t kSendfileChunk = 1 << 20;
// A file with this much or more still to send has its next window checked
// for page-cache residence before sendfile() (three syscalls a window); a
// smaller rest of a file the caller called cached is taken on that word,
// which may be a minute old: at worst 4 MiB read from the disk on the loop,
// against three syscalls on every answer of a mid-sized file (at 1 MiB
// they cost nginx's parity). A file not called cached, or found evicted
// once, has every window checked.
constexpr uint64_t kCheckWindow = 1 << 20;
constexpr uint64_t kCheckFrom = 4 << 20;
// A window found cached is taken to stay so for this long; a socket that
// stalls longer (a slow reader) may find its pages evicted meanwhile.
constexpr uint64_t kCheckFreshMs = 1000;

// A monotonic clock in milliseconds, cheap enough to read per sendfile()
// (the vDSO's coarse clock: no syscall).
inline uint64_t coarse_ms() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

// Whether a file's bytes [at, at + n) are all in the page cache, asked
// without reading them: mincore() of a mapping that is never touched, as
// the lookup asks. (cachestat() would be one syscall, not three, but reads
// the file's own mapping, which an overlayfs file leaves empty: every
// window would read as cold in a container.)
inline bool range_cached(int fd, uint64_t at, uint64_t n) {
  static const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  const uint64_t start = at / page * page;
  const size_t len = static_cast<size_t>(at + n - start);
  void* m = ::mmap(nullptr, len, PROT_READ, MAP_SHARED, fd, static_cast<off_t>(start));
  if (m == MAP_FAILED) return false;
  unsigned char pages[(kCheckWindow / 4096) + 2];
  const size_t count = (len + page - 1) / page;
  bool all = count <= sizeof pages && ::mincore(m, len, pages) == 0;
  for (size_t i = 0; all && i < count; ++i) all = pages[i] & 1;
  ::munmap(m, len);
  return all;
}

// A read-ahead brought the file's bytes up to `to` into the page cache.
inline void read_ahead_done(FileRef& f, uint64_t to) {
  f.checked_to = to;
  f.checked_ms = coarse_ms();
}

// Before sendfile() of a file's bytes from `at`: how many of them may go
// now, known to be in the page cache; 0 when the next ones must be read
// off the loop first. A window found partly missing is not asked about
// again until the reads pass it (they would find it cold again and again).
inline uint64_t file_ready(FileRef& f, uint64_t at) {
  const uint64_t end = f.offset + f.len;
  if (f.trusted && end - at < kCheckFrom) return end - at;
  if (at < f.checked_to) {
    if (coarse_ms() - f.checked_ms < kCheckFreshMs) return f.checked_to - at;
    // Stale (the reader stalled): ask about the rest of it again, rather
    // than read it all ahead again.
    if (range_cached(f.fd, at, f.checked_to - at)) {
      f.checked_ms = coarse_ms();
      return f.checked_to - at;
    }
    f.trusted = false;
    f.cold_to = std::max(f.cold_to, f.checked_to);
    return 0;
  }
  if (at < f.cold_to) return 0;
  const uint64_t window = std::min(kCheckWindow, end - at);
  if (!range_cached(f.fd, at, window)) {
    f.trusted = false;  // evicted since the caller looked: check the rest too
    f.cold_to = at + window;
    return 0;
  }
  f.checked_to = at + window;
  f.checked_ms = coarse_ms();
  return window;
}
// A client that reads as fast as the loopback carries would keep one
// connection's flush going for a whole large file (a 256 MiB download held
// other clients' answers for 65 ms at p99): at most this much of files a
// flush, then kYield.
constexpr uint64_t kTurnFileBytes = 1 << 20;

// Sends a stream that holds files: the memory up to the next file with one
// sendmsg() (MSG_MORE: the file's first bytes join it in a segment), then
// the file with sendfile(), in chunks, at most kTurnFileBytes a flush (then
// kYield), and only as far as its bytes are known to be in the page cache
// (kReadAhead past that). A file that ends before its length (it shrank
// while being sent) is an error: the promised Content-Length cannot be
// kept, and the connection must close rather than desynchronise keep-alive.
inline FlushResult flush_files(int fd, OutBuffer& out, bool last) {
  uint64_t file_bytes_sent = 0;
  constexpr size_t kMaxIov = 2 * OutBuffer::kMaxRefs + OutBuffer::kMaxFiles + 1;
  while (out.pending()) {
    iovec iov[kMaxIov];
    int n = 0;
    uint64_t skip = out.sent;
    const FileRef* file = nullptr;
    uint64_t file_skip = 0;
    bool file_follows = false;
    for_each_segment(out, [&](const char* mem, const FileRef* f, uint64_t len) {
      if (skip >= len) {
        skip -= len;
        return true;
      }
      if (f) {
        if (n > 0) {
          file_follows = true;  // the memory before it first
        } else {
          file = f;
          file_skip = skip;
        }
        return false;
      }
      if (n == static_cast<int>(kMaxIov)) return false;
      iov[n++] = iovec{const_cast<char*>(mem + skip), static_cast<size_t>(len - skip)};
      skip = 0;
      return true;
    });
    ssize_t w;
    if (file) {
      const uint64_t at = file->offset + file_skip;
      const uint32_t index = static_cast<uint32_t>(file - out.files);
      const uint64_t ready = file_ready(out.files[index], at);
      if (ready == 0) {
        out.warm_file = index;
        out.warm_at = at;
        return FlushResult::kReadAhead;
      }
      if (file_bytes_sent >= kTurnFileBytes) return FlushResult::kYield;
      off_t off = static_cast<off_t>(at);
      w = ::sendfile(fd, file->fd, &off,
                     static_cast<size_t>(std::min({file->len - file_skip, ready, uint64_t{kSendfileChunk}})));
      if (w > 0) file_bytes_sent += static_cast<uint64_t>(w);
      if (w == 0) {
        errno = EIO;  // the file shrank: what the caller reports
        return FlushResult::kError;
      }
    } else {
      msghdr msg{};
      msg.msg_iov = iov;
      msg.msg_iovlen = static_cast<size_t>(n);
      w = ::sendmsg(fd, &msg, send_flags(last) | (file_follows ? MSG_MORE : 0));
    }
    FlushResult stop;
    if (!sent_some(out, w, &stop)) return stop;
  }
  return FlushResult::kDone;
}

// What a submit on io_uring did: queued an operation (its completion comes
// back), sent file bytes itself and stopped at the turn's share (kSent: go
// on next turn), met a full socket (kBlocked: wait for POLLOUT), or failed
// (errno).
enum class SubmitResult : uint8_t { kQueued, kSent, kBlocked, kError };

// The next step of a stream that holds files, on io_uring:
// - the rest of the bounce buffer (a file's bytes read before), sent;
// - else the memory up to the next file, with one sendmsg;
// - else a file's bytes known to be in the page cache: sendfile() on the
//   socket from here, at most kTurnFileBytes (the file's pages go to the
//   socket without a copy; the ring's own way, read then send, copies them
//   twice: 3.5x the CPU of epoll's sendfile for a 1 MiB file);
// - else a read of the file's next chunk through the ring into the bounce
//   buffer (a read that must wait on the disk finishes on the kernel's
//   workers, never on the loop); on_file_read() then asks for the send.
inline SubmitResult submit_files(UringScheduler& s, UringScheduler::Reg r, int sock, OutBuffer& out) {
  if (out.bounce_sent < out.bounce_len) {
    s.send(r, out.bounce.get() + out.bounce_sent, out.bounce_len - out.bounce_sent, MSG_NOSIGNAL);
    return SubmitResult::kQueued;
  }
  out.bounce_len = 0;
  out.bounce_sent = 0;
  if (!out.gather) out.gather = std::make_unique<OutBuffer::Gather>();
  OutBuffer::Gather& g = *out.gather;
  constexpr int kMaxIov = static_cast<int>(sizeof g.iov / sizeof g.iov[0]);
  int n = 0;
  uint64_t skip = out.sent;
  const FileRef* file = nullptr;
  uint64_t file_skip = 0;
  for_each_segment(out, [&](const char* mem, const FileRef* f, uint64_t len) {
    if (skip >= len) {
      skip -= len;
      return true;
    }
    if (f) {
      if (n == 0) {
        file = f;
        file_skip = skip;
      }
      return false;  // memory before it goes first
    }
    if (n == kMaxIov) return false;
    g.iov[n++] = iovec{const_cast<char*>(mem + skip), static_cast<size_t>(len - skip)};
    skip = 0;
    return true;
  });
  if (file && file_ready(out.files[file - out.files], file->offset + file_skip) != 0) {
    uint64_t sent_now = 0;
    for (;;) {
      const uint64_t at = file->offset + file_skip;
      const uint64_t ready = file_skip == file->len ? 0 : file_ready(out.files[file - out.files], at);
      if (ready == 0) return SubmitResult::kSent;  // what follows: next call
      if (sent_now >= kTurnFileBytes) return SubmitResult::kSent;
      off_t off = static_cast<off_t>(at);
      const ssize_t w =
          ::sendfile(sock, file->fd, &off,
                     static_cast<size_t>(std::min({file->len - file_skip, ready, uint64_t{kSendfileChunk}})));
      if (w > 0) {
        out.sent += static_cast<size_t>(w);
        file_skip += static_cast<uint64_t>(w);
        sent_now += static_cast<uint64_t>(w);
        continue;
      }
      if (w == 0) {
        errno = EIO;  // the file shrank
        return SubmitResult::kError;
      }
      if (errno == EINTR) continue;
      return errno == EAGAIN ? SubmitResult::kBlocked : SubmitResult::kError;
    }
  }
  if (file) {
    if (!out.bounce) std::abort();  // the connection lends one to a buffer with files
    const uint64_t want = std::min<uint64_t>(file->len - file_skip, OutBuffer::kBounceBytes);
    s.read(r, file->fd, out.bounce.get(), static_cast<size_t>(want), file->offset + file_skip);
    return SubmitResult::kQueued;
  }
  g.msg = msghdr{};
  g.msg.msg_iov = g.iov;
  g.msg.msg_iovlen = static_cast<size_t>(n);
  s.sendmsg(r, &g.msg, MSG_NOSIGNAL);
  return SubmitResult::kQueued;
}

// A read that submit_files() queued finished with `result` (bytes, 0 at the
// end of the file, -errno). False: the stream cannot go on, and errno says
// why (EIO for a file that shrank: its promised length cannot be kept).
inline bool file_read(OutBuffer& out, int result) {
  if (result <= 0) {
    errno = result == 0 ? EIO : -result;
    return false;
  }
  out.bounce_len = static_cast<uint32_t>(result);
  out.bounce_sent = 0;
  return true;
}

// A send that submit_files() or submit() queued took `n` bytes.
inline void sent_on_ring(OutBuffer& out, size_t n) {
  if (out.bounce_len != 0) out.bounce_sent += static_cast<uint32_t>(n);
  out.sent += n;
}

// Reads a file's bytes [from, from + n) into the page cache, on a pool
// thread: what sendfile() then sends without waiting on the disk.
inline void read_ahead(int fd, uint64_t from, uint64_t n) {
  constexpr size_t kScratch = 256 * 1024;
  thread_local std::unique_ptr<char[]> scratch(new char[kScratch]);
  while (n > 0) {
    const ssize_t r = ::pread(fd, scratch.get(), std::min<uint64_t>(n, kScratch), static_cast<off_t>(from));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return;  // the send finds the end or the error itself
    from += static_cast<uint64_t>(r);
    n -= static_cast<uint64_t>(r);
  }
}

// Appends a body to out.bytes; a buffered body's space in `bodies` is free again.
inline void copy_body(OutBuffer& out, std::string_view body, BodySource source) {
  out.bytes.append(body);
  if (source == BodySource::kBuffered) out.bodies.truncate(out.body_mark);
}

// Queues a send of out.bytes from out.sent on.
// No MSG_MORE for the last bytes here: the close that would uncork them
// comes a turn later, after the completion, and a client that sends more
// meanwhile would get a reset instead of its answer.
inline void submit_contiguous(UringScheduler& s, UringScheduler::Reg r, const OutBuffer& out) {
  s.send(r, out.bytes.data() + out.sent, out.bytes.size() - out.sent, MSG_NOSIGNAL);
}

struct CopyWrite {
  static constexpr std::string_view kName = "write";

  static void add_body(OutBuffer& out, std::string_view body, BodySource source) {
    copy_body(out, body, source);  // the one copy, whatever the source
  }

  static FlushResult flush(int fd, OutBuffer& out, bool last) {
    if (out.nfiles != 0) return flush_files(fd, out, last);
    return flush_contiguous(fd, out, last);
  }

  static SubmitResult submit(UringScheduler& s, UringScheduler::Reg r, int sock, OutBuffer& out) {
    if (out.nfiles != 0) return submit_files(s, r, sock, out);
    submit_contiguous(s, r, out);
    return SubmitResult::kQueued;
  }
};

struct GatherWrite {
  static constexpr std::string_view kName = "writev";

  // Bodies shorter than this are copied rather than gathered.
  static constexpr size_t kGatherFrom = 257;

  static void add_body(OutBuffer& out, std::string_view body, BodySource source) {
    if (body.size() < kGatherFrom) {
      copy_body(out, body, source);
      return;
    }
    if (source == BodySource::kStatic) {
      out.add_ref(BodyRef{static_cast<uint32_t>(out.bytes.size()), static_cast<uint32_t>(body.size()), 0,
                          body.data()});
      return;
    }
    // A transient body must outlive the call: it is copied into `bodies`,
    // where a buffered one already is.
    if (source == BodySource::kTransient) out.bodies.append(body);
    out.add_ref(BodyRef{static_cast<uint32_t>(out.bytes.size()), static_cast<uint32_t>(body.size()),
                        out.body_mark, nullptr});
    out.body_mark = static_cast<uint32_t>(out.bodies.size());
  }

  static FlushResult flush(int fd, OutBuffer& out, bool last) {
    if (out.nfiles != 0) return flush_files(fd, out, last);
    if (out.nrefs == 0) return flush_contiguous(fd, out, last);  // one segment: send()
    iovec iov[2 * OutBuffer::kMaxRefs + 1];
    while (out.pending()) {
      int n = gather(out, iov);
      msghdr msg{};
      msg.msg_iov = iov;
      msg.msg_iovlen = static_cast<size_t>(n);
      FlushResult stop;
      if (!sent_some(out, ::sendmsg(fd, &msg, send_flags(last)), &stop)) return stop;
    }
    return FlushResult::kDone;
  }

  static SubmitResult submit(UringScheduler& s, UringScheduler::Reg r, int sock, OutBuffer& out) {
    if (out.nfiles != 0) return submit_files(s, r, sock, out);
    if (out.nrefs == 0) {
      submit_contiguous(s, r, out);
      return SubmitResult::kQueued;
    }
    if (!out.gather) out.gather = std::make_unique<OutBuffer::Gather>();
    OutBuffer::Gather& g = *out.gather;
    g.msg = msghdr{};
    g.msg.msg_iov = g.iov;
    g.msg.msg_iovlen = static_cast<size_t>(gather(out, g.iov));
    s.sendmsg(r, &g.msg, MSG_NOSIGNAL);
    return SubmitResult::kQueued;
  }

 private:
  // The unsent part of the stream as iovecs: bytes, spliced with refs.
  static int gather(const OutBuffer& out, iovec* iov) {
    size_t skip = out.sent;
    int n = 0;
    auto add = [&](const char* p, size_t len) {
      if (skip >= len) {
        skip -= len;
        return;
      }
      iov[n++] = iovec{const_cast<char*>(p + skip), len - skip};
      skip = 0;
    };
    uint32_t pos = 0;
    for (uint32_t i = 0; i < out.nrefs; ++i) {
      const BodyRef& r = out.refs[i];
      add(out.bytes.data() + pos, r.at - pos);
      pos = r.at;
      add(r.ext ? r.ext : out.bodies.data() + r.bodies_off, r.len);
    }
    add(out.bytes.data() + pos, out.bytes.size() - pos);
    return n;
  }
};

}  // namespace hellepoll::http
