#include "proxy/server/socket_writer.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <chrono>
#include <optional>
#include <thread>
#include <vector>

namespace regmirror::proxy::server {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

// A connected loopback pair with small kernel buffers, so that large writes hit a full socket.
struct SocketPair {
  asio::io_context io{1};
  tcp::socket writer{io};
  tcp::socket reader{io};

  SocketPair() {
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    writer.connect(acceptor.local_endpoint());
    acceptor.accept(reader);
    int small = 16 * 1024;
    ::setsockopt(writer.native_handle(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    ::setsockopt(reader.native_handle(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  }

  // Runs socket_write_all to its end on this thread; the result and how long it took.
  std::pair<bool, Clock::duration> write(std::span<const std::byte> bytes, std::chrono::seconds timeout) {
    std::optional<bool> result;
    auto started = Clock::now();
    asio::co_spawn(io, socket_write_all(writer, bytes, timeout), [&](const std::exception_ptr&, bool ok) { result = ok; });
    io.run();
    io.restart();
    EXPECT_TRUE(result.has_value());
    return {result.value_or(false), Clock::now() - started};
  }
};

std::vector<std::byte> pattern(std::size_t size) {
  std::vector<std::byte> bytes(size);
  for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<std::byte>(i * 7 % 253);
  return bytes;
}

TEST(SocketWriter, SixtyFourMebibytesToASlowReaderArriveWholeAndInOrder) {
  SocketPair pair;
  const auto bytes = pattern(std::size_t{64} << 20);
  std::atomic<bool> same{true};
  std::size_t received = 0;
  std::thread reader([&] {
    std::vector<std::byte> chunk(std::size_t{256} * 1024);
    int reads = 0;
    while (true) {
      boost::system::error_code ec;
      auto n = pair.reader.read_some(asio::buffer(chunk), ec);
      if (ec) break;
      if (std::memcmp(chunk.data(), bytes.data() + received, n) != 0) same = false;
      received += n;
      // Pauses early on: the writer finds the socket full and must wait, many times.
      if (++reads < 40) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  auto [ok, took] = pair.write(bytes, std::chrono::seconds(10));
  pair.writer.shutdown(tcp::socket::shutdown_send);
  reader.join();
  EXPECT_TRUE(ok);
  EXPECT_EQ(received, bytes.size());
  EXPECT_TRUE(same);
}

TEST(SocketWriter, AReaderThatStopsReadingIsGivenUpAfterTheTimeout) {
  SocketPair pair;
  const auto bytes = pattern(std::size_t{16} << 20);  // far more than both socket buffers
  auto [ok, took] = pair.write(bytes, std::chrono::seconds(1));
  EXPECT_FALSE(ok);
  EXPECT_GE(took, std::chrono::milliseconds(900));
  EXPECT_LT(took, std::chrono::seconds(10));
}

TEST(SocketWriter, APeerThatClosedGivesFalseNotSigpipe) {
  // The test binary keeps SIGPIPE's default disposition: a send without MSG_NOSIGNAL to a reset
  // connection would kill it here.
  SocketPair pair;
  struct linger reset {1, 0};
  ::setsockopt(pair.reader.native_handle(), SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  pair.reader.close();
  const auto bytes = pattern(std::size_t{4} << 20);
  // The first write after the reset fails with ECONNRESET; the ones after it with EPIPE, which
  // is what raises SIGPIPE.
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(pair.write(bytes, std::chrono::seconds(5)).first) << "write " << i;
}

}  // namespace
}  // namespace regmirror::proxy::server
