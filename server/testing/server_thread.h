// For tests: an HttpServer<Io> on 127.0.0.1 with its loop on its own
// thread, drained and joined when the object goes; and every Io policy,
// named, for typed test suites.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include "server/http/server.h"

namespace hellepoll::testing {

using http::HttpServer;
using http::Router;
using http::ServerConfig;

template <class Io>
class ServerThread {
 public:
  ServerThread(const Router& router, ServerConfig config) {
    std::promise<void> ready;
    thread_ = std::thread([&] {
      typename Io::Sched sched;
      HttpServer<Io> server(sched, router, config);
      ListenOptions lo;
      lo.host = "127.0.0.1";
      std::string err;
      server.listen(bind_listen_socket(lo, &err));
      sched_ = &sched;
      server_ = &server;
      port_ = server.port();
      ready.set_value();
      sched.run();
    });
    ready.get_future().wait();
  }
  ~ServerThread() {
    sched_->add_callback([this] { server_->drain([this] { sched_->stop(); }); });
    thread_.join();
  }
  uint16_t port() const { return port_; }
  // Runs fn on the loop thread and returns its result.
  template <class Fn>
  auto on_loop(Fn fn) {
    std::promise<decltype(fn(*server_))> p;
    sched_->add_callback([&] { p.set_value(fn(*server_)); });
    return p.get_future().get();
  }
  Scheduler& scheduler() { return *sched_; }
  // Starts draining; returns a future that is ready when drain completes.
  std::future<void> drain() {
    auto done = std::make_shared<std::promise<void>>();
    auto f = done->get_future();
    sched_->add_callback([this, done] { server_->drain([done] { done->set_value(); }); });
    return f;
  }

 private:
  std::thread thread_;
  Scheduler* sched_ = nullptr;
  HttpServer<Io>* server_ = nullptr;
  uint16_t port_ = 0;
};

// TYPED_TEST_SUITE(Suite, Policies, PolicyNames): each test once per
// trigger and write path, named "lt_write", "uring_writev", ...
using Policies = ::testing::Types<http::LtWrite, http::LtWritev, http::EtWrite, http::EtWritev,
                                  http::UringWrite, http::UringWritev>;
class PolicyNames {
 public:
  template <class T>
  static std::string GetName(int) {
    std::string t = T::kTrigger == Trigger::kLevel ? "lt_" : T::kTrigger == Trigger::kEdge ? "et_" : "uring_";
    return t + std::string(T::Write::kName);
  }
};

}  // namespace hellepoll::testing
