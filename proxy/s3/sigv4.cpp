#include "proxy/s3/sigv4.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <array>
#include <ctime>

namespace regmirror::proxy::s3 {
namespace {

constexpr char kHex[] = "0123456789abcdef";
constexpr char kHexUpper[] = "0123456789ABCDEF";

std::string to_hex(const unsigned char* data, std::size_t size) {
  std::string out;
  out.reserve(size * 2);
  for (std::size_t i = 0; i < size; ++i) {
    out.push_back(kHex[data[i] >> 4]);
    out.push_back(kHex[data[i] & 0xF]);
  }
  return out;
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(), &length);
  return std::string(reinterpret_cast<const char*>(out.data()), length);
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Header values: leading/trailing spaces removed, inner runs of spaces collapsed to one.
std::string trim_value(std::string_view value) {
  std::string out;
  bool space = false;
  for (char c : value) {
    if (c == ' ' || c == '\t') {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  return out;
}

}  // namespace

std::string uri_encode(std::string_view text, bool keep_slash) {
  std::string out;
  out.reserve(text.size() * 3 / 2);
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || (keep_slash && c == '/')) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHexUpper[c >> 4]);
      out.push_back(kHexUpper[c & 0xF]);
    }
  }
  return out;
}

std::string encode_path(std::string_view raw_path) {
  if (raw_path.empty()) return "/";
  return uri_encode(raw_path, true);
}

std::string canonical_query(const QueryParams& query) {
  std::vector<std::pair<std::string, std::string>> encoded;
  encoded.reserve(query.size());
  for (const auto& [key, value] : query) {
    encoded.emplace_back(uri_encode(key, false), uri_encode(value, false));
  }
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [key, value] : encoded) {
    if (!out.empty()) out.push_back('&');
    out += key;
    out.push_back('=');
    out += value;
  }
  return out;
}

std::string sha256_hex(std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), out.data(), &length, EVP_sha256(), nullptr);
  return to_hex(out.data(), length);
}

std::string amz_date(std::chrono::system_clock::time_point when) {
  std::time_t t = std::chrono::system_clock::to_time_t(when);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y%m%dT%H%M%SZ", &tm);
  return buffer;
}

std::string SigV4Signer::canonical_request(const SignedRequest& request,
                                           std::string* signed_headers) {
  std::vector<std::pair<std::string, std::string>> headers;
  headers.reserve(request.headers.size());
  for (const auto& [name, value] : request.headers) {
    headers.emplace_back(lower(name), trim_value(value));
  }
  std::sort(headers.begin(), headers.end());
  std::string canonical_headers;
  std::string names;
  for (std::size_t i = 0; i < headers.size(); ++i) {
    // Repeated headers are joined with commas under one name.
    if (i > 0 && headers[i].first == headers[i - 1].first) {
      canonical_headers.pop_back();
      canonical_headers += "," + headers[i].second + "\n";
      continue;
    }
    canonical_headers += headers[i].first + ":" + headers[i].second + "\n";
    if (!names.empty()) names.push_back(';');
    names += headers[i].first;
  }
  if (signed_headers != nullptr) *signed_headers = names;
  return request.method + "\n" + encode_path(request.raw_path) + "\n" +
         canonical_query(request.query) + "\n" + canonical_headers + "\n" + names + "\n" +
         request.payload_sha256;
}

std::string SigV4Signer::scope(std::string_view date) const {
  return std::string(date.substr(0, 8)) + "/" + credentials_.region + "/" + credentials_.service +
         "/aws4_request";
}

std::string SigV4Signer::string_to_sign(std::string_view canonical, std::string_view date) const {
  return "AWS4-HMAC-SHA256\n" + std::string(date) + "\n" + scope(date) + "\n" +
         sha256_hex(canonical);
}

std::string SigV4Signer::signature(std::string_view to_sign, std::string_view date) const {
  auto key = hmac_sha256("AWS4" + credentials_.secret_key, date.substr(0, 8));
  key = hmac_sha256(key, credentials_.region);
  key = hmac_sha256(key, credentials_.service);
  key = hmac_sha256(key, "aws4_request");
  auto mac = hmac_sha256(key, to_sign);
  return to_hex(reinterpret_cast<const unsigned char*>(mac.data()), mac.size());
}

std::string SigV4Signer::authorization(const SignedRequest& request,
                                       std::string_view date) const {
  std::string signed_headers;
  auto canonical = canonical_request(request, &signed_headers);
  return "AWS4-HMAC-SHA256 Credential=" + credentials_.access_key + "/" + scope(date) +
         ", SignedHeaders=" + signed_headers +
         ", Signature=" + signature(string_to_sign(canonical, date), date);
}

std::string SigV4Signer::presign_query(std::string_view method, std::string_view raw_path,
                                       std::string_view host, std::string_view date,
                                       std::chrono::seconds expires) const {
  SignedRequest request;
  request.method = std::string(method);
  request.raw_path = std::string(raw_path);
  request.query = {{"X-Amz-Algorithm", "AWS4-HMAC-SHA256"},
                   {"X-Amz-Credential", credentials_.access_key + "/" + scope(date)},
                   {"X-Amz-Date", std::string(date)},
                   {"X-Amz-Expires", std::to_string(expires.count())},
                   {"X-Amz-SignedHeaders", "host"}};
  request.headers = {{"host", std::string(host)}};
  request.payload_sha256 = "UNSIGNED-PAYLOAD";
  auto canonical = canonical_request(request, nullptr);
  auto sig = signature(string_to_sign(canonical, date), date);
  return canonical_query(request.query) + "&X-Amz-Signature=" + sig;
}

}  // namespace regmirror::proxy::s3
