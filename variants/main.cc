// Every Hellepoll variant is this file, compiled with one policy per axis
// (variants.bzl passes them as defines; this is the only place they are
// read). `helloworld` answers GET / the way a real handler would: status
// line, Server, Date, Content-Type, Content-Length and body, all produced by
// the framework per request. With --root, a directory's files are served
// (StaticFiles) under --mount.
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <type_traits>

#include "server/http/server.h"
#include "server/http/static/static_files.h"
#include "variants/options.h"
#include "variants/workers.h"

namespace hellepoll::variants {
namespace {

using Io = http::IoPolicy<Trigger::HELLEPOLL_TRIGGER, http::HELLEPOLL_WRITE>;
using Concurrency = HELLEPOLL_WORKERS;

using Sched = Io::Sched;

// The scheduler of a worker, with the options its backend takes.
template <class S>
S make_scheduler([[maybe_unused]] const Options& opts) {
  if constexpr (std::is_same_v<S, UringScheduler>) {
    UringScheduler::Options u;
    u.batch = opts.uring_batch;
    return S(u);
  } else {
    return S();
  }
}

template <class IoPolicy>
class HttpWorker final : public Worker {
 public:
  HttpWorker(const Options& opts, const http::Router& router, UniqueFd sock, bool shared)
      : sched_(make_scheduler<Sched>(opts)), server_(sched_, router, opts.config) {
    server_.listen(std::move(sock), shared);
  }
  Scheduler& scheduler() override { return sched_; }
  void drain() override {
    server_.drain([this] {
      // A client whose connection the deadline cut sees it end without a
      // "Connection: close": say so, it is the one way a drain loses answers.
      if (uint64_t cut = server_.stats().drain_cut) {
        std::fprintf(stderr,
                     "hellepoll: drain deadline reached: closed %llu connection%s with answers owed "
                     "(--drain-timeout)\n",
                     static_cast<unsigned long long>(cut), cut == 1 ? "" : "s");
      }
      sched_.stop();
    });
  }

 private:
  Sched sched_;
  http::HttpServer<IoPolicy> server_;
};

int serve(int argc, char** argv) {
  const Identity id{HELLEPOLL_VARIANT, trigger_name(Io::kTrigger), Io::Write::kName, Concurrency::kName,
                    Sched::kName};
  Options opts;
  if (int rc = parse_options(argc, argv, id, &opts); rc >= 0) return rc;
  if constexpr (Io::kTrigger == Trigger::kCompletion) {
    // Before any socket or worker: no silent fallback to epoll.
    if (const std::string why = UringScheduler::unavailable(); !why.empty()) {
      std::fprintf(stderr, "%s: %s\n", HELLEPOLL_VARIANT, why.c_str());
      return 1;
    }
  }

  http::Router router;
  std::unique_ptr<http::static_files::StaticFiles> files;
  if (!opts.root.empty()) {
    // `bazel run` starts the binary in its runfiles: a relative --root is
    // the user's, from where they typed the command.
    std::string root = opts.root;
    if (const char* cwd = std::getenv("BUILD_WORKING_DIRECTORY"); cwd && root.front() != '/') {
      root = std::string(cwd) + "/" + root;
    }
    http::static_files::StaticOptions static_opts;
    if (opts.small_file >= 0) static_opts.small_file = static_cast<uint64_t>(opts.small_file);
    files = std::make_unique<http::static_files::StaticFiles>(root, static_opts);
    if (!files->error().empty()) {
      std::fprintf(stderr, "%s: --root: %s\n", HELLEPOLL_VARIANT, files->error().c_str());
      return 2;
    }
    if (!files->mime_error().empty()) {
      std::fprintf(stderr, "%s: %s (every file is application/octet-stream)\n", HELLEPOLL_VARIANT,
                   files->mime_error().c_str());
    }
    router.stem(opts.mount, http::kGetHead, *files);
  }
  if (opts.root.empty() || opts.mount != "/") {
    router.get(
        "/", [](http::Request&, http::Response& res) { res.send_static(200, "Hello World", "text/plain"); });
  }
  return Concurrency::run(opts, id, [&](int, UniqueFd sock, bool shared) -> std::unique_ptr<Worker> {
    return std::make_unique<HttpWorker<Io>>(opts, router, std::move(sock), shared);
  });
}

}  // namespace
}  // namespace hellepoll::variants

int main(int argc, char** argv) { return hellepoll::variants::serve(argc, argv); }
