// Path rules for static files: what part of the file tree a request path
// may name.
//
// The path after the mount's stem is percent-decoded once, then split on
// '/'. Refused, before the file system is asked:
// - a bad escape ("%", "%4", "%zz"), NUL (raw or "%00"), a backslash: 400;
// - a ".." segment, however spelled ("..", "%2e%2e", ".%2E"): 400, since no
//   request that climbs is honest, even one that would land inside the root;
// - a dotfile or dot-directory (".git", "a/.env"): 404, unless the mount
//   allows them, so that their existence is not told.
// Empty and "." segments are dropped. What is left is relative to the root,
// joined with '/'; symlinks are the opener's business (openat2 with
// RESOLVE_BENEATH, or the equivalent check): these rules see only names.
#pragma once

#include <string>
#include <string_view>

namespace hellepoll::http::static_files {

struct SafePath {
  int status = 0;          // 0: allowed; else the status to answer
  std::string relative;    // "" names the root itself
  bool directory = false;  // the request ended with '/' (or named the root)
};

SafePath safe_path(std::string_view encoded, bool allow_dotfiles);
// The same into *out, with *scratch for the decoded text: both keep their
// capacity from call to call, so a server's lookups allocate nothing.
void safe_path(std::string_view encoded, bool allow_dotfiles, SafePath* out, std::string* scratch);

// Decodes %XX escapes once into `out`; false on a malformed escape.
bool percent_decode(std::string_view in, std::string* out);

}  // namespace hellepoll::http::static_files
