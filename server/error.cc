#include "server/error.h"

#include <cxxabi.h>

#include <cerrno>
#include <exception>

namespace hellepoll {

Error Error::from_errno(int e) {
  switch (e) {
    case ECONNRESET:
      return {ErrorKind::kReset, e};
    case EPIPE:
      return {ErrorKind::kBrokenPipe, e};
    case ETIMEDOUT:
      return {ErrorKind::kTimeout, e};
    default:
      return {ErrorKind::kSystem, e};
  }
}

std::string_view Error::name() const {
  switch (kind) {
    case ErrorKind::kNone:
      return "none";
    case ErrorKind::kReset:
      return "connection reset";
    case ErrorKind::kBrokenPipe:
      return "broken pipe";
    case ErrorKind::kPeerClosed:
      return "peer closed";
    case ErrorKind::kTimeout:
      return "timeout";
    case ErrorKind::kProtocol:
      return "protocol error";
    case ErrorKind::kShutdown:
      return "shutdown";
    case ErrorKind::kSystem:
      return "system error";
    case ErrorKind::kInternal:
      return "internal error";
    case ErrorKind::kInvalidArgument:
      return "invalid argument";
    case ErrorKind::kBadState:
      return "not allowed in this state";
    case ErrorKind::kStale:
      return "stale handle";
  }
  return "unknown";
}

// Inside a catch block: what() of the exception being handled.
const char* current_what() {
  try {
    throw;
  } catch (abi::__forced_unwind&) {
    throw;  // thread cancellation is not an error: it must unwind on
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "unknown exception";
  }
}

}  // namespace hellepoll
