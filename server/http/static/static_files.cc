#include "server/http/static/static_files.h"

#include <fcntl.h>
#include <signal.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "server/http/static/open.h"
#include "server/http/static/path.h"
#include "server/http/static/plan.h"

namespace hellepoll::http::static_files {

// One worker's part: its cache, and the scratch strings a request reuses.
struct StaticFiles::Local {
  template <class... Args>
  explicit Local(Args&&... args) : cache(std::forward<Args>(args)...) {}
  FileCache cache;
  SafePath path;
  std::string decoded;
  std::string if_match, if_none_match;  // a list sent on several field lines, joined
};

namespace {

// The validator and range headers, in one pass over the request's headers.
// If-Match and If-None-Match are lists that may come on several field lines
// (RFC 9110 §5.3): those are joined, in the worker's scratch strings.
FileRequest file_request(const Request& req, std::string* if_match, std::string* if_none_match) {
  FileRequest f;
  f.method = req.method();
  auto list = [](std::string_view* to, std::string* joined, std::string_view value) {
    if (to->empty()) {
      *to = value;
      return;
    }
    if (to->data() != joined->data()) joined->assign(*to);
    joined->append(", ");
    joined->append(value);
    *to = *joined;
  };
  for (size_t i = 0; i < req.header_count(); ++i) {
    const std::string_view n = req.header_name(i);
    const std::string_view v = req.header_value(i);
    std::string_view* to = nullptr;
    switch (n.size()) {
      case 5:
        if (iequals_lower(n, "range")) to = &f.range;
        break;
      case 8:
        if (iequals_lower(n, "if-range")) to = &f.if_range;
        if (iequals_lower(n, "if-match")) list(&f.if_match, if_match, v);
        break;
      case 13:
        if (iequals_lower(n, "if-none-match")) list(&f.if_none_match, if_none_match, v);
        break;
      case 17:
        if (iequals_lower(n, "if-modified-since")) to = &f.if_modified_since;
        break;
      case 19:
        if (iequals_lower(n, "if-unmodified-since")) to = &f.if_unmodified_since;
        break;
      default:
        break;
    }
    if (to && to->empty()) *to = v;  // the first of each counts
  }
  return f;
}

// What a deferred answer needs of its request once the handler returned:
// copies, since the request's memory is the connection's.
struct Saved {
  Saved(const FileRequest& f, std::string_view path, std::string_view query, bool dir)
      : if_none_match(f.if_none_match),
        if_modified_since(f.if_modified_since),
        range(f.range),
        if_range(f.if_range),
        if_match(f.if_match),
        if_unmodified_since(f.if_unmodified_since),
        path(path),
        query(query),
        method(f.method),
        directory(dir) {}
  FileRequest request() const {
    return FileRequest{method,   if_none_match, if_modified_since,  range,
                       if_range, if_match,      if_unmodified_since};
  }
  std::string if_none_match, if_modified_since, range, if_range, if_match, if_unmodified_since;
  std::string path, query;
  Method method;
  bool directory;
};

template <class R>
void send_error(R& r, int status) {
  char body[40];
  const std::string_view reason = reason_phrase(status);
  const size_t n = std::min(reason.size(), sizeof body - 1);
  std::memcpy(body, reason.data(), n);
  body[n] = '\n';
  (void)r.send(status, {body, n + 1}, "text/plain");
}

// The answer, from the lookup's result; R is a Response or a Handle.
template <class R>
void answer(R& r, const FileRequest& req, bool directory, std::string_view path, std::string_view query,
            const FileCache::File& f, int err) {
  if (!f || (f->index && !directory)) {
    if (f || err == kIsDirectory) {
      if (directory) {
        send_error(r, 403);  // a directory without index.html: no listings
        return;
      }
      // One leading '/', whatever the request had: "//host/dir" as a
      // Location would send the client to another host.
      std::string location(path.substr(std::min(path.find_first_not_of('/'), path.size()) - 1));
      location.push_back('/');
      if (!query.empty()) {
        location.push_back('?');
        location.append(query);
      }
      (void)r.add_header("Location", location);
      send_error(r, 301);
      return;
    }
    send_error(r, open_error_status(err));
    return;
  }
  if (directory && !f->index) {
    send_error(r, 404);  // "file.txt/": a file is not a directory
    return;
  }
  const FilePlan p = plan_file_response(req, FileVersion{f->size, f->mtime, f->etag_view()});
  if (p.validators) {
    (void)r.add_header("ETag", f->etag_view());
    (void)r.add_header("Last-Modified", p.last_modified());
  }
  if (p.allow) (void)r.add_header("Allow", "GET, HEAD");
  if (!p.content_range().empty()) (void)r.add_header("Content-Range", p.content_range());
  switch (p.status) {
    case 200:
    case 206:
      break;
    case 304:
      (void)r.send(304, {}, {});
      return;
    default:
      send_error(r, p.status);
      return;
  }
  (void)r.add_header("Accept-Ranges", "bytes");
  if (f->has_content) {
    (void)r.send(p.status, std::string_view(f->content).substr(p.offset, p.length), f->content_type);
  } else {
    (void)r.send_file(p.status, f->fd.get(), p.offset, p.length, f, f->content_type, f->resident);
  }
}

}  // namespace

StaticFiles::StaticFiles(const std::string& root, StaticOptions opts) {
  // sendfile() cannot be told MSG_NOSIGNAL: a client that hangs up mid-file
  // would kill a program that left SIGPIPE at its default (Node and Python
  // ignore it at start for the same reason). A handler of its own stays.
  struct sigaction old {};
  if (::sigaction(SIGPIPE, nullptr, &old) == 0 && old.sa_handler == SIG_DFL) ::signal(SIGPIPE, SIG_IGN);
  auto s = std::make_shared<Shared>();
  s->opts = std::move(opts);
  s->mime = std::make_shared<const MimeTypes>(s->opts.mime_types);
  s->root.reset(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!s->root) s->error = "cannot serve " + root + ": " + std::strerror(errno);
  shared_ = std::move(s);
}

StaticFiles::Local& StaticFiles::local(Request& req) const {
  WorkerLocals& w = req.worker();
  return w.get<Local>(shared_.get(), [&] {
    UniqueFd root(::fcntl(shared_->root.get(), F_DUPFD_CLOEXEC, 0));
    FileCache::Options o = shared_->opts.cache;
    o.small_file = shared_->opts.small_file;
    return std::make_shared<Local>(w.scheduler(), w.pool(), std::move(root), shared_->mime, o);
  });
}

void StaticFiles::operator()(Request& req, Response& res) const {
  if (!shared_->root) {
    send_error(res, 404);  // error() told the operator at start
    return;
  }
  Local& l = local(req);
  safe_path(req.subpath(), shared_->opts.dotfiles, &l.path, &l.decoded);
  if (l.path.status != 0) {
    send_error(res, l.path.status);
    return;
  }
  const FileRequest fr = file_request(req, &l.if_match, &l.if_none_match);
  if (FileCache::File f = l.cache.find(l.path.relative)) {
    answer(res, fr, l.path.directory, req.path(), req.query(), f, 0);
    return;
  }
  auto saved = std::make_shared<const Saved>(fr, req.path(), req.query(), l.path.directory);
  l.cache.open(l.path.relative, [h = res.defer(), saved](FileCache::File f, int err) mutable {
    if (!h.alive()) return;  // the client went while the pool looked
    answer(h, saved->request(), saved->directory, saved->path, saved->query, f, err);
  });
}

}  // namespace hellepoll::http::static_files
