#include "proxy/server/tls_context_provider.hpp"

#include <sys/stat.h>

#include <stdexcept>

#include "proxy/logging/logger.hpp"

namespace regmirror::proxy::server {
namespace {

// Changes whenever either file is replaced or rewritten (mtime, inode). Unsigned arithmetic:
// the mix may wrap, which for unsigned types is defined (UBSan caught the signed version).
std::uint64_t stamp_of(const std::string& cert, const std::string& key) {
  std::uint64_t stamp = 0;
  for (const auto* path : {&cert, &key}) {
    struct stat st {};
    if (::stat(path->c_str(), &st) == 0) {
      stamp = stamp * 31 + static_cast<std::uint64_t>(st.st_mtim.tv_sec) * 1000000000u +
              static_cast<std::uint64_t>(st.st_mtim.tv_nsec) + static_cast<std::uint64_t>(st.st_ino);
    }
  }
  return stamp;
}

}  // namespace

TlsContextProvider::TlsContextProvider(std::string cert_file, std::string key_file)
    : cert_file_(std::move(cert_file)), key_file_(std::move(key_file)) {
  auto loaded = load();
  if (!loaded) throw std::runtime_error(loaded.error().message);  // start-up: a bad config
  context_ = std::move(*loaded);
  stamp_ = stamp_of(cert_file_, key_file_);
}

Result<std::shared_ptr<boost::asio::ssl::context>, MessageError> TlsContextProvider::load() const {
  namespace ssl = boost::asio::ssl;
  auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                       ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
  boost::system::error_code ec;
  context->use_certificate_chain_file(cert_file_, ec);
  if (ec) return message_error("tls.cert " + cert_file_ + ": " + ec.message());
  context->use_private_key_file(key_file_, ssl::context::pem, ec);
  if (ec) return message_error("tls.key " + key_file_ + ": " + ec.message());
  return context;
}

std::shared_ptr<boost::asio::ssl::context> TlsContextProvider::current() {
  std::lock_guard lock(mutex_);
  auto now = std::chrono::steady_clock::now();
  if (now >= next_check_) {
    next_check_ = now + std::chrono::seconds(5);
    auto stamp = stamp_of(cert_file_, key_file_);
    if (stamp != stamp_) {
      if (auto loaded = load()) {
        context_ = std::move(*loaded);
        stamp_ = stamp;
        logging::info("tls_reloaded", {{"cert", cert_file_}});
      } else {
        // Half-written renewal: keep serving with the old pair and try again later.
        logging::error("tls_reload_failed",
                       {{"cert", cert_file_}, {"error", loaded.error().message}});
      }
    }
  }
  return context_;
}

}  // namespace regmirror::proxy::server
