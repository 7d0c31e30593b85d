#include "proxy/admin/admin_handler.hpp"

#include <chrono>
#include <nlohmann/json.hpp>

#include "cache/blob_store.hpp"
#include "proxy/admin/blob_upload.hpp"
#include "proxy/admin/routes.hpp"
#include "proxy/logging/logger.hpp"
#include "proxy/server/offload.hpp"

namespace regmirror::proxy::admin {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using server::Connection;

namespace {

// Request body limits, per route (the registry port takes no request bodies at all): pins and
// import documents are JSON of at most this size; a blob upload may be as large as the cache
// itself (max_cache_bytes, blob_upload.cpp), since nothing larger could be kept.
constexpr std::uint64_t kMaxJsonBody = 16 << 20;
constexpr auto kBodyReadTimeout = std::chrono::seconds(60);

// One admin request: routes it through the table, runs the job on the workers, writes the JSON.
class AdminRequest {
 public:
  AdminRequest(const AdminHandlerParts& parts, Connection& connection)
      : parts_(parts), connection_(connection) {}

  http::status status = http::status::ok;

  asio::awaitable<bool> serve() {
    const auto& request = connection_.request();
    const auto method = request.method();
    std::string target(request.target().data(), request.target().size());
    std::string_view path = std::string_view(target).substr(0, target.find('?'));

    if (path.starts_with("/admin/blobs/")) {
      auto digest = cache::Digest::parse(path.substr(std::string_view("/admin/blobs/").size()));
      if (!digest) co_return co_await reply(fail(http::status::bad_request, "invalid digest in path"));
      if (method == http::verb::head) co_return co_await head_blob(*digest);
      if (method == http::verb::put) {
        auto answer = co_await upload_blob(parts_, connection_, *digest);
        if (!answer) co_return false;
        co_return co_await reply(std::move(*answer));
      }
      // The admin API never serves blob bytes: that is the registry port's job.
      co_return co_await reply(fail(http::status::method_not_allowed, "use HEAD (or the registry API)"));
    }
    const AdminRoute* route = find_route(method, target);
    if (route == nullptr) {
      std::string message = "no such admin route: " + std::string(request.method_string()) + " " +
                            std::string(path);
      co_return co_await reply(fail(http::status::not_found, message));
    }
    std::string body;
    if (route->json_body) {
      auto read = co_await read_json_body();
      if (read.refused) co_return co_await reply(std::move(*read.refused));
      body = std::move(read.text);
    }
    const AdminHandlerParts* parts = &parts_;
    auto job = [parts, route, target, body = std::move(body)] {
      return route->job(*parts, target, body);
    };
    Reply answer = co_await server::offload(*parts_.workers, std::move(job));
    co_return co_await reply(std::move(answer));
  }

 private:
  asio::awaitable<bool> reply(Reply result) {
    status = result.status;
    http::response<http::string_body> response{result.status, connection_.request().version()};
    response.set(http::field::content_type, "application/json");
    response.set(http::field::cache_control, "no-store");
    response.body() = result.body.dump(2) + "\n";
    co_return co_await connection_.send(std::move(response));
  }

  // A JSON request body, or the reply that refuses it.
  struct JsonBody {
    std::string text;
    std::optional<Reply> refused;
  };

  asio::awaitable<JsonBody> read_json_body() {
    JsonBody out;
    auto length = connection_.body_length();
    if (!length) {
      out.refused = fail(http::status::length_required, "a JSON body with Content-Length is required");
      co_return out;
    }
    if (*length > kMaxJsonBody) {
      out.refused = too_large("JSON body", *length, "admin JSON", kMaxJsonBody);
      co_return out;
    }
    out.text.assign(*length, '\0');
    std::size_t done = 0;
    while (done < out.text.size()) {
      auto n = co_await connection_.read_body_chunk(
          std::as_writable_bytes(std::span(out.text.data() + done, out.text.size() - done)),
          kBodyReadTimeout);
      if (!n || *n == 0) {
        out.refused = fail(http::status::bad_request,
                           "request body ended after " + std::to_string(done) + " of " +
                               std::to_string(*length) + " bytes");
        co_return out;
      }
      done += *n;
    }
    co_return out;
  }

  asio::awaitable<bool> head_blob(cache::Digest digest) {
    auto* blobs = parts_.blobs;
    auto job = [blobs, digest] { return blobs->stat(digest); };
    auto info = co_await server::offload(*parts_.workers, std::move(job));
    http::response<http::empty_body> response{info ? http::status::ok : http::status::not_found,
                                              connection_.request().version()};
    response.content_length(info ? info->size : 0);
    status = response.result();
    co_return co_await connection_.send_header(response);
  }

  const AdminHandlerParts& parts_;
  Connection& connection_;
};

}  // namespace

asio::awaitable<bool> AdminHandler::handle(Connection& connection) {
  const auto started = std::chrono::steady_clock::now();
  AdminRequest request(parts_, connection);
  bool keep = co_await request.serve();
  auto millis = std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::steady_clock::now() - started)
                                   .count());
  auto status = std::to_string(static_cast<unsigned>(request.status));
  const auto& head = connection.request();
  auto method = std::string(head.method_string());
  auto target = std::string(head.target());
  logging::info("admin_request",
                {{"method", method}, {"target", target}, {"status", status}, {"ms", millis}});
  co_return keep;
}

}  // namespace regmirror::proxy::admin
