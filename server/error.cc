#include "server/error.h"

#include <cerrno>

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
    case ErrorKind::kNone: return "none";
    case ErrorKind::kReset: return "connection reset";
    case ErrorKind::kBrokenPipe: return "broken pipe";
    case ErrorKind::kPeerClosed: return "peer closed";
    case ErrorKind::kTimeout: return "timeout";
    case ErrorKind::kProtocol: return "protocol error";
    case ErrorKind::kShutdown: return "shutdown";
    case ErrorKind::kSystem: return "system error";
    case ErrorKind::kInternal: return "internal error";
  }
  return "unknown";
}

}  // namespace hellepoll
