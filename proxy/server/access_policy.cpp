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

std::string token_label(const std::string& token) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(token.data(), token.size(), digest, &size, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "token:";
  for (unsigned i = 0; i < 4 && i < size; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0xf]);
  }
  return out;
}

std::string_view trim_spaces(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

}  // namespace

std::vector<AccessPolicy::Network> AccessPolicy::parse_networks(const std::vector<std::string>& cidrs,
                                                                const std::string& key) {
  std::vector<Network> out;
  for (const auto& cidr : cidrs) {
    auto slash = cidr.find('/');
    boost::system::error_code ec;
    auto base = boost::asio::ip::make_address(cidr.substr(0, slash), ec);
    if (ec) throw config::ConfigError(key + ": invalid address in '" + cidr + "'");
    unsigned bits = slash == std::string::npos ? (base.is_v4() ? 32u : 128u)
                                               : static_cast<unsigned>(std::stoul(cidr.substr(slash + 1)));
    out.push_back({base, bits});
  }
  return out;
}

bool AccessPolicy::trusted(const boost::asio::ip::address& address) const {
  for (const auto& network : trusted_proxies_) {
    if (in_network(address, network.base, network.bits)) return true;
  }
  return false;
}

boost::asio::ip::address AccessPolicy::client_address(const boost::asio::ip::address& peer,
                                                      std::string_view forwarded_for) const {
  if (trusted_proxies_.empty() || !trusted(peer)) return peer;
  auto client = peer;
  // Right to left: each hop was added by the proxy in front of us; stop at the first one
  // that is not a trusted proxy (anything left of it is the client's own claim).
  while (!forwarded_for.empty()) {
    auto comma = forwarded_for.rfind(',');
    auto item = trim_spaces(comma == std::string_view::npos ? forwarded_for : forwarded_for.substr(comma + 1));
    forwarded_for = comma == std::string_view::npos ? std::string_view() : forwarded_for.substr(0, comma);
    boost::system::error_code ec;
    auto address = boost::asio::ip::make_address(std::string(item), ec);
    if (ec) break;
    client = address;
    if (!trusted(address)) break;
  }
  return client;
}

AccessPolicy::AccessPolicy(const config::AccessConfig& config)
    : htpasswd_file_(config.htpasswd_file), tokens_file_(config.tokens_file) {
  networks_ = parse_networks(config.allow_cidrs, "access.allow_cidrs");
  trusted_proxies_ = parse_networks(config.trusted_proxies, "access.trusted_proxies");
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
      for (const auto& line : read_lines(tokens_file_)) {
        auto text = trim_spaces(line);
        auto space = text.find_first_of(" \t");
        auto token = std::string(text.substr(0, space));
        auto name = space == std::string_view::npos ? std::string() : std::string(trim_spaces(text.substr(space)));
        tokens_[token] = name.empty() ? token_label(token) : name;
      }
    }
  }
}

std::optional<std::string> AccessPolicy::authenticate(std::string_view authorization) {
  if (!requires_credentials()) return std::string();
  std::lock_guard lock(mutex_);
  reload_if_changed();
  auto space = authorization.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  auto scheme = authorization.substr(0, space);
  auto value = authorization.substr(space + 1);
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  if ((scheme == "Bearer" || scheme == "bearer") && !tokens_.empty()) {
    auto token = tokens_.find(std::string(value));
    if (token == tokens_.end()) return std::nullopt;
    return token->second;
  }
  if ((scheme == "Basic" || scheme == "basic") && !users_.empty()) {
    auto pair = base64_decode(value);
    auto colon = pair.find(':');
    if (colon == std::string::npos) return std::nullopt;
    auto name = pair.substr(0, colon);
    if (verified_.contains(pair)) return name;
    auto user = users_.find(name);
    if (user == users_.end() || !bcrypt_matches(pair.substr(colon + 1), user->second)) return std::nullopt;
    if (verified_.size() < 10000) verified_.insert(pair);
    return name;
  }
  return std::nullopt;
}

}  // namespace regmirror::proxy::server
