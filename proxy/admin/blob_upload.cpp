#include "proxy/admin/blob_upload.hpp"

#include <vector>

#include "cache/blob_store.hpp"
#include "cache/cache_error.hpp"
#include "cache/evictor.hpp"
#include "config/config.hpp"
#include "proxy/admin/admin_handler.hpp"
#include "proxy/server/connection.hpp"
#include "proxy/server/offload.hpp"

namespace regmirror::proxy::admin {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using nlohmann::json;
using server::Connection;

namespace {

constexpr std::size_t kUploadChunk = 1 << 20;
constexpr auto kBodyReadTimeout = std::chrono::seconds(60);

}  // namespace

asio::awaitable<std::optional<Reply>> upload_blob(const AdminHandlerParts& parts,
                                                  Connection& connection, cache::Digest digest) {
  // Replies are built in a named variable before co_return: GCC 12 mishandles temporaries of
  // a conditional inside a coroutine's return expression.
  auto length = connection.body_length();
  if (!length) {
    Reply answer = fail(http::status::length_required, "Content-Length required");
    co_return answer;
  }
  if (auto limit = parts.config->max_cache_bytes; limit > 0 && *length > limit) {
    Reply answer = too_large("blob upload", *length, "max_cache_bytes", limit);
    co_return answer;
  }
  auto* blobs = parts.blobs;
  auto begin = [blobs, digest, size = *length] { return blobs->begin_write(digest, size); };
  auto writer = co_await server::offload(*parts.workers, std::move(begin));
  if (!writer) {
    Reply answer = fail(disk_full(writer.error()) ? http::status::insufficient_storage
                                                  : http::status::internal_server_error,
                        "cannot store blob " + digest.str() + ": " + writer.error().message());
    co_return answer;
  }
  auto* raw = writer->get();
  std::vector<std::byte> buffer(kUploadChunk);
  std::uint64_t received = 0;
  while (received < *length) {
    auto n = co_await connection.read_body_chunk(buffer, kBodyReadTimeout);
    if (!n || *n == 0) {
      raw->abort();
      co_return std::nullopt;  // the client is gone: nothing to answer
    }
    received += *n;
    auto write = [raw, data = buffer.data(), size = *n] {
      return raw->write(std::span<const std::byte>(data, size));
    };
    auto written = co_await server::offload(*parts.workers, std::move(write));
    if (!written) {
      raw->abort();
      Reply answer = fail(disk_full(written.error()) ? http::status::insufficient_storage
                                                     : http::status::internal_server_error,
                          "writing blob " + digest.str() + ": " + written.error().message());
      co_return answer;
    }
  }
  auto commit = [raw] { return raw->commit(); };
  auto committed = co_await server::offload(*parts.workers, std::move(commit));
  if (!committed) {
    bool bad_content = committed.error() == cache::CacheErrc::kDigestMismatch ||
                       committed.error() == cache::CacheErrc::kSizeMismatch;
    Reply answer =
        fail(bad_content ? http::status::bad_request : http::status::internal_server_error,
             "blob " + digest.str() + " rejected: " + committed.error().message());
    co_return answer;
  }
  auto note = [evictor = parts.evictor, digest, size = *length] {
    evictor->note_committed(digest, size);
    return true;
  };
  co_await server::offload(*parts.workers, std::move(note));
  Reply answer{http::status::created, json{{"digest", digest.str()}, {"size", *length}}};
  co_return answer;
}

}  // namespace regmirror::proxy::admin
