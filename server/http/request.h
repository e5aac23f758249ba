// Request: a read-only view of one parsed request.
//
// Everything is a view into the connection's read buffer: valid only during
// the handler call. A handler that answers later copies what it needs.
#pragma once

#include <string_view>

#include "server/http/parser.h"
#include "server/worker_locals.h"

namespace hellepoll::http {

class Request {
 public:
  Request(const char* base, const RequestHead& head, std::string_view body)
      : base_(base), head_(&head), body_(body) {}

  Method method() const { return head_->method; }
  std::string_view method_name() const { return {base_, head_->method_len}; }
  // The request-target as sent: origin-form, absolute-form or "*".
  std::string_view target() const { return {base_ + head_->target_off, head_->target_len}; }
  // The path: the target without query, and without scheme and authority
  // for an absolute-form target. Not percent-decoded.
  std::string_view path() const;
  std::string_view query() const;  // after '?', empty if none
  int version_minor() const { return head_->version_minor; }
  bool keep_alive() const { return head_->keep_alive; }
  std::string_view body() const { return body_; }

  size_t header_count() const { return head_->num_headers; }
  std::string_view header_name(size_t i) const {
    const HeaderSlot& s = head_->headers[i];
    return {base_ + s.name_off, s.name_len};
  }
  std::string_view header_value(size_t i) const {
    const HeaderSlot& s = head_->headers[i];
    return {base_ + s.value_off, s.value_len};
  }
  // The first header named `name` (case-insensitive); empty if absent.
  std::string_view header(std::string_view name) const;
  bool has_header(std::string_view name) const;

  // For a stem route ("/static/"): the path after the stem; else the whole
  // path. Not percent-decoded.
  std::string_view subpath() const { return path().substr(stem_length_); }
  // The serving worker's per-worker objects (its scheduler, blocking pool,
  // caches): how a handler shared by every worker finds its own worker's.
  WorkerLocals& worker() const { return *worker_; }

  // ---- for the connection ----
  void set_route(uint32_t stem_length, WorkerLocals* worker) {
    stem_length_ = stem_length;
    worker_ = worker;
  }

 private:
  const char* base_;
  const RequestHead* head_;
  std::string_view body_;
  uint32_t stem_length_ = 0;
  WorkerLocals* worker_ = nullptr;
};

}  // namespace hellepoll::http
