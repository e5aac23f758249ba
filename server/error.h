// Error: what went wrong for one task, reported to that task's handler.
//
// Errors are values. The loop never dies for one client's mistake: a failed
// read, a reset, a timeout or a protocol error becomes an Error delivered to
// the task (and from there to its HTTP handler), never a log line alone.
#pragma once

#include <cstdint>
#include <string_view>

namespace hellepoll {

enum class ErrorKind : uint8_t {
  kNone = 0,
  kReset,       // ECONNRESET: the peer aborted the connection
  kBrokenPipe,  // EPIPE: the peer stopped reading before we finished writing
  kPeerClosed,  // orderly EOF before a response owed to the peer was complete
  kTimeout,     // idle, read or write timeout expired
  kProtocol,    // the peer sent something the protocol does not allow
  kShutdown,    // the server is draining and closed the connection
  kSystem,      // any other errno
  kInternal,    // a handler or callback threw: our bug, not the peer's
  // Refusals: an API call that cannot be carried out, returned as a value.
  kInvalidArgument,  // an argument the API does not allow (a header with CR/LF, a body on a 204)
  kBadState,         // the call does not fit the object's state (a header after the head was sent)
  kStale,            // a handle that outlived what it referred to (a request already over)
};

struct Error {
  ErrorKind kind = ErrorKind::kNone;
  int sys_errno = 0;  // errno for kSystem/kReset/kBrokenPipe, else 0

  explicit operator bool() const { return kind != ErrorKind::kNone; }
  // Maps an errno from a failed read/write/accept to an Error.
  static Error from_errno(int e);
  std::string_view name() const;
};

// Inside a catch block: what() of the exception being handled, or "unknown
// exception" for one that is not a std::exception. Rethrows thread
// cancellation, which must unwind on.
const char* current_what();

}  // namespace hellepoll
