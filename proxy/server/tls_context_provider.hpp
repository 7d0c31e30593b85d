#pragma once
// The TLS context for new connections, rebuilt when the certificate or key file changes on
// disk (cert-manager renews by replacing the Secret's files). Connections keep the context
// they started with. Thread-safe.
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "config/result.hpp"

namespace regmirror::proxy::server {

class TlsContextProvider {
 public:
  // Loads the pair once; throws std::runtime_error with the file and OpenSSL's reason (start-up
  // only: a reload on a network thread gets the same reason as a value).
  TlsContextProvider(std::string cert_file, std::string key_file);

  // The newest usable context. A changed pair that fails to load is logged and the previous
  // context is kept.
  std::shared_ptr<boost::asio::ssl::context> current();

 private:
  // The file that failed and OpenSSL's reason when the pair does not load.
  Result<std::shared_ptr<boost::asio::ssl::context>, MessageError> load() const;

  std::string cert_file_;
  std::string key_file_;
  std::mutex mutex_;
  std::shared_ptr<boost::asio::ssl::context> context_;
  std::uint64_t stamp_ = 0;
  std::chrono::steady_clock::time_point next_check_{};
};

}  // namespace regmirror::proxy::server
