// Opening a file beneath the served root, never outside it.
//
// The name has passed the path rules (path.h), so it holds no "..": what
// could still leave the root is a symlink, absolute ("/etc") or climbing
// ("../../x"). Where the kernel has openat2 (5.6+), RESOLVE_BENEATH refuses
// any resolution that leaves `root` (EXDEV) and RESOLVE_NO_MAGICLINKS the
// /proc links. Where it has not (ENOSYS, or a seccomp profile that refuses
// it), the equivalent check: the file is opened, then the path the kernel
// resolved for that very descriptor (/proc/self/fd) must lie under the
// root's; no window between the check and the use. Relative symlinks that
// stay inside the root are followed either way, as nginx does by default
// (an absolute one is refused by openat2 even when it points inside).
#pragma once

#include <cstdint>
#include <string>

#include "server/fd.h"

namespace hellepoll::http::static_files {

enum class Beneath : uint8_t { kAuto, kOpenat2, kCheckPath };

// Opens `relative` (non-empty, no leading '/') under the directory `root`
// read-only. On failure returns an empty fd and sets *err: an errno, EXDEV
// for a name that resolves outside the root.
UniqueFd open_beneath(int root, const std::string& relative, int* err, Beneath how = Beneath::kAuto);

// The status a failed open answers: 404 for a name that is not there, 403
// for one that may not be read or leaves the root, 500 otherwise.
int open_error_status(int err);

}  // namespace hellepoll::http::static_files
