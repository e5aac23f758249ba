// What a static-file request is answered with, decided from its method and
// validator headers and the file's size, mtime and ETag, before a byte is
// sent: the status, the part of the file, and the header values. No IO.
//
// GET and HEAD only (405 with "Allow: GET, HEAD" otherwise). A failed
// If-Match or If-Unmodified-Since is 412. A current copy
// (If-None-Match, else If-Modified-Since) is 304. A GET's Range counts when
// If-Range, if sent, names this version: one range 206, none satisfiable
// 416 (with "Content-Range: bytes */size"), several the whole file. HEAD
// answers what GET would, without the body.
#pragma once

#include <cstdint>
#include <ctime>
#include <string_view>

#include "server/http/parser.h"

namespace hellepoll::http::static_files {

struct FileRequest {
  Method method = Method::kGet;
  std::string_view if_none_match;
  std::string_view if_modified_since;
  std::string_view range;
  std::string_view if_range;
  std::string_view if_match;
  std::string_view if_unmodified_since;
};

struct FileVersion {
  uint64_t size = 0;
  time_t mtime = 0;
  std::string_view etag;
};

struct FilePlan {
  int status = 200;
  bool send_body = true;  // false: HEAD, 304, 405, 412, 416
  uint64_t offset = 0;    // the file's bytes to send
  uint64_t length = 0;    // also the Content-Length (HEAD: of what GET sends); a 304 sends none
  // Header values (empty: not sent).
  std::string_view content_range() const { return {content_range_, content_range_len_}; }
  std::string_view last_modified() const { return {last_modified_, last_modified_len_}; }
  bool validators = true;  // ETag and Last-Modified go with 200, 206 and 304
  bool allow = false;      // "Allow: GET, HEAD" (405)

  char content_range_[6 + 20 + 1 + 20 + 1 + 20 + 1];  // "bytes a-b/size"
  uint8_t content_range_len_ = 0;
  char last_modified_[29];  // IMF-fixdate
  uint8_t last_modified_len_ = 0;
};

FilePlan plan_file_response(const FileRequest& req, const FileVersion& file);

}  // namespace hellepoll::http::static_files
