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
//
// Socket calls, not write()/writev(): send() and sendmsg() skip the VFS
// layer (rw_verify_area, the kiocb, sock_write_iter), ~70 ns a call (a
// loopback ping-pong on a VM, alternating the two), and
// MSG_NOSIGNAL turns a write to a reset peer into EPIPE whether or not the
// embedding program ignores SIGPIPE.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <string_view>

#include "server/backend/uring.h"
#include "server/http/out_buffer.h"

namespace hellepoll::http {

enum class FlushResult : uint8_t { kDone, kBlocked, kError };

inline int send_flags(bool last) { return last ? MSG_MORE | MSG_NOSIGNAL : MSG_NOSIGNAL; }

// Sends out.bytes from out.sent on: the whole queue when no body is gathered.
inline FlushResult flush_contiguous(int fd, OutBuffer& out, bool last) {
  while (out.sent < out.bytes.size()) {
    const char* p = out.bytes.data() + out.sent;
    const size_t len = out.bytes.size() - out.sent;
    ssize_t n = ::send(fd, p, len, send_flags(last));
    if (n > 0) {
      out.sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return n < 0 && errno == EAGAIN ? FlushResult::kBlocked : FlushResult::kError;
  }
  return FlushResult::kDone;
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

  static FlushResult flush(int fd, OutBuffer& out, bool last) { return flush_contiguous(fd, out, last); }

  static void submit(UringScheduler& s, UringScheduler::Reg r, OutBuffer& out) {
    submit_contiguous(s, r, out);
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
    if (out.nrefs == 0) return flush_contiguous(fd, out, last);  // one segment: send()
    iovec iov[2 * OutBuffer::kMaxRefs + 1];
    while (out.pending()) {
      int n = gather(out, iov);
      msghdr msg{};
      msg.msg_iov = iov;
      msg.msg_iovlen = static_cast<size_t>(n);
      ssize_t w = ::sendmsg(fd, &msg, send_flags(last));
      if (w > 0) {
        out.sent += static_cast<size_t>(w);
        continue;
      }
      if (w < 0 && errno == EINTR) continue;
      return w < 0 && errno == EAGAIN ? FlushResult::kBlocked : FlushResult::kError;
    }
    return FlushResult::kDone;
  }

  static void submit(UringScheduler& s, UringScheduler::Reg r, OutBuffer& out) {
    if (out.nrefs == 0) {
      submit_contiguous(s, r, out);
      return;
    }
    if (!out.gather) out.gather = std::make_unique<OutBuffer::Gather>();
    OutBuffer::Gather& g = *out.gather;
    g.msg = msghdr{};
    g.msg.msg_iov = g.iov;
    g.msg.msg_iovlen = static_cast<size_t>(gather(out, g.iov));
    s.sendmsg(r, &g.msg, MSG_NOSIGNAL);
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
