// Client::wait_closed, the check behind every "the server closed cleanly"
// assertion: true only on an orderly close (FIN) with nothing after the
// last answer. A peer that resets has destroyed whatever it had not yet
// delivered, so a reset is never a clean close.
#include "server/testing/client.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <string>

#include "server/testing/loopback.h"

namespace hellepoll::testing {
namespace {

using namespace std::chrono_literals;

// A listening socket on 127.0.0.1 whose accepted end the test drives by hand.
class Peer {
 public:
  Peer() { listen_ = listen_loopback(1, &port_); }
  uint16_t port() const { return port_; }
  UniqueFd accept() { return UniqueFd(::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC)); }

 private:
  UniqueFd listen_;
  uint16_t port_ = 0;
};

void reset(UniqueFd& fd) {
  linger l{1, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
  fd.reset();
}

TEST(ClientWaitClosed, OnlyAnOrderlyCloseWithNothingAfterIsClean) {
  struct Case {
    const char* name;
    // What the client sends first (the peer never reads it).
    std::string client_sends;
    // What the peer does to its end of the connection.
    std::function<void(UniqueFd&)> peer;
    // What the client sends after the peer acted.
    std::string client_sends_after;
    bool clean;
    std::string end;  // end_reason() afterwards
  } cases[] = {
      {"close", "", [](UniqueFd& fd) { fd.reset(); }, "", true, "eof with 0 bytes unparsed"},
      {"shutdown_write", "", [](UniqueFd& fd) { ::shutdown(fd.get(), SHUT_WR); }, "", true,
       "eof with 0 bytes unparsed"},
      // The client talking on after the close is answered with RST, but the
      // peer's FIN came first: the close was orderly.
      {"close_then_client_sends", "", [](UniqueFd& fd) { fd.reset(); }, "GET / HTTP/1.1\r\n\r\n", true,
       "eof with 0 bytes unparsed"},
      {"reset", "", reset, "", false, "ECONNRESET with 0 bytes unparsed"},
      // Closing with input unread makes the kernel send RST, not FIN.
      {"close_with_input_unread", "GET / HTTP/1.1\r\n\r\n", [](UniqueFd& fd) { fd.reset(); }, "", false,
       "ECONNRESET with 0 bytes unparsed"},
      {"a_byte_then_close", "",
       [](UniqueFd& fd) {
         ASSERT_EQ(1, ::send(fd.get(), "x", 1, MSG_NOSIGNAL));
         fd.reset();
       },
       "", false, ""},
      {"still_open", "", [](UniqueFd&) {}, "", false, "timeout with 0 bytes unparsed"},
  };
  for (const Case& c : cases) {
    Peer peer;
    Client client(peer.port(), 300ms);
    ASSERT_TRUE(client.connected()) << c.name;
    UniqueFd server = peer.accept();
    ASSERT_TRUE(server) << c.name;
    if (!c.client_sends.empty()) {
      ASSERT_TRUE(client.send(c.client_sends)) << c.name;
      // The bytes wait in the peer's receive queue once the client's send
      // queue holds none (loopback acknowledges on arrival).
      int outq = 1;
      for (int i = 0; i < 100000 && outq != 0; ++i) ASSERT_EQ(0, ::ioctl(client.fd(), TIOCOUTQ, &outq));
      ASSERT_EQ(0, outq) << c.name;
    }
    c.peer(server);
    if (!c.client_sends_after.empty()) client.send(c.client_sends_after);
    EXPECT_EQ(c.clean, client.wait_closed()) << c.name;
    EXPECT_EQ(c.end, client.end_reason()) << c.name;
    EXPECT_EQ(c.clean, client.wait_closed()) << c.name << ": asked twice";
  }
}

}  // namespace
}  // namespace hellepoll::testing
