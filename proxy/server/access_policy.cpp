#include "proxy/server/access_policy.hpp"

#include <crypt.h>
#include <openssl/evp.h>
#include <sys/stat.h>

#include <fstream>

#include "config/load.hpp"

namespace regmirror::proxy::server {
namespace {

std::int64_t mtime_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return -1;
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.empty() || line.front() == '#') continue;
    lines.push_back(line);
  }
  return lines;
}

std::string base64_decode(std::string_view in) {
  std::string out(3 * (in.size() / 4) + 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  if (n < 0) return {};
  out.resize(static_cast<std::size_t>(n));
  // EVP_DecodeBlock counts padding as zero bytes.
  for (auto pad = in.rbegin(); pad != in.rend() && *pad == '='; ++pad) {
    if (!out.empty()) out.pop_back();
  }
  return out;
}

bool bcrypt_matches(const std::string& password, const std::string& hash) {
  if (hash.rfind("$2", 0) != 0) return false;  // only bcrypt hashes are accepted
  crypt_data data{};
  const char* result = crypt_r(password.c_str(), hash.c_str(), &data);
  return result != nullptr && result[0] != '*' && hash == result;
}

bool in_network(const boost::asio::ip::address& address, const boost::asio::ip::address& base,
                unsigned bits) {
  auto to_bytes = [](const boost::asio::ip::address& a) {
    if (a.is_v4()) {
      auto v4 = a.to_v4().to_bytes();
      return std::vector<unsigned char>(v4.begin(), v4.end());
    }
    auto v6 = a.to_v6();
    if (v6.is_v4_mapped()) {
      auto v4 = boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, v6).to_bytes();
      return std::vector<unsigned char>(v4.begin(), v4.end());
    }
    auto b = v6.to_bytes();
    return std::vector<unsigned char>(b.begin(), b.end());
  };
  auto a = to_bytes(address);
  auto b = to_bytes(base);
  if (a.size() != b.size()) return false;
  for (unsigned i = 0; i < bits; ++i) {
    unsigned byte = i / 8;
    unsigned mask = 0x80u >> (i % 8);
    if ((a[byte] & mask) != (b[byte] & mask)) return false;
  }
  return true;
}

}  // namespace

AccessPolicy::AccessPolicy(const config::AccessConfig& config)
    : htpasswd_file_(config.htpasswd_file), tokens_file_(config.tokens_file) {
  for (const auto& cidr : config.allow_cidrs) {
    auto slash = cidr.find('/');
    boost::system::error_code ec;
    auto base = boost::asio::ip::make_address(cidr.substr(0, slash), ec);
    if (ec) throw config::ConfigError("access.allow_cidrs: invalid address in '" + cidr + "'");
    unsigned bits = slash == std::string::npos ? (base.is_v4() ? 32u : 128u)
                                               : static_cast<unsigned>(std::stoul(cidr.substr(slash + 1)));
    networks_.push_back({base, bits});
  }
  for (const auto& [file, key] : {std::pair{htpasswd_file_, "access.htpasswd_file"},
                                  std::pair{tokens_file_, "access.tokens_file"}}) {
    if (!file.empty() && mtime_of(file) < 0) {
      throw config::ConfigError(std::string(key) + ": cannot read " + file);
    }
  }
  reload_if_changed();
}

bool AccessPolicy::address_allowed(const boost::asio::ip::address& address) const {
  if (networks_.empty()) return true;
  for (const auto& network : networks_) {
    if (in_network(address, network.base, network.bits)) return true;
  }
  return false;
}

bool AccessPolicy::requires_credentials() const {
  return !htpasswd_file_.empty() || !tokens_file_.empty();
}

void AccessPolicy::reload_if_changed() {
  auto now = std::chrono::steady_clock::now();
  if (now < next_check_) return;
  next_check_ = now + std::chrono::seconds(2);
  if (!htpasswd_file_.empty()) {
    auto mtime = mtime_of(htpasswd_file_);
    if (mtime != htpasswd_mtime_) {
      htpasswd_mtime_ = mtime;
      users_.clear();
      verified_.clear();
      for (const auto& line : read_lines(htpasswd_file_)) {
        auto colon = line.find(':');
        if (colon != std::string::npos) users_[line.substr(0, colon)] = line.substr(colon + 1);
      }
    }
  }
  if (!tokens_file_.empty()) {
    auto mtime = mtime_of(tokens_file_);
    if (mtime != tokens_mtime_) {
      tokens_mtime_ = mtime;
      tokens_.clear();
      for (auto& line : read_lines(tokens_file_)) tokens_.insert(std::move(line));
    }
  }
}

bool AccessPolicy::credentials_valid(std::string_view authorization) {
  if (!requires_credentials()) return true;
  std::lock_guard lock(mutex_);
  reload_if_changed();
  auto space = authorization.find(' ');
  if (space == std::string_view::npos) return false;
  auto scheme = authorization.substr(0, space);
  auto value = authorization.substr(space + 1);
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  if ((scheme == "Bearer" || scheme == "bearer") && !tokens_.empty()) {
    return tokens_.contains(std::string(value));
  }
  if ((scheme == "Basic" || scheme == "basic") && !users_.empty()) {
    auto pair = base64_decode(value);
    auto colon = pair.find(':');
    if (colon == std::string::npos) return false;
    if (verified_.contains(pair)) return true;
    auto user = users_.find(pair.substr(0, colon));
    if (user == users_.end() || !bcrypt_matches(pair.substr(colon + 1), user->second)) return false;
    if (verified_.size() < 10000) verified_.insert(pair);
    return true;
  }
  return false;
}

}  // namespace regmirror::proxy::server
