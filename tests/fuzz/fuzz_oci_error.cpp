// OCI error bodies (proxy/registry/oci_error.hpp): their messages quote client and upstream
// bytes (names, references, upstream reasons). Properties: the body is always one valid JSON
// document with the code and a 4xx/5xx status, whatever bytes the message holds, and a valid
// UTF-8 message comes back unchanged.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string_view>

#include "proxy/registry/oci_error.hpp"
#include "tests/fuzz/fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace regmirror::proxy::registry;
  if (size < 1) return 0;
  auto error = static_cast<OciError>(data[0] % (static_cast<int>(OciError::kInternal) + 1));
  std::string_view message(reinterpret_cast<const char*>(data + 1), size - 1);
  auto status = http_status(error);
  FUZZ_CHECK(status >= 400 && status < 600);
  auto body = error_body(error, message);
  auto doc = nlohmann::json::parse(body, nullptr, false);
  FUZZ_CHECK(!doc.is_discarded());
  FUZZ_CHECK(doc["errors"].is_array() && doc["errors"].size() == 1);
  const auto& entry = doc["errors"][0];
  FUZZ_CHECK(entry["code"] == std::string(error_code_name(error)));
  FUZZ_CHECK(entry["message"].is_string());
  // dump() without an error handler throws exactly when the message is not valid UTF-8.
  bool valid_utf8 = true;
  try {
    (void)nlohmann::json(std::string(message)).dump();
  } catch (const nlohmann::json::type_error&) {
    valid_utf8 = false;
  }
  if (valid_utf8) FUZZ_CHECK(entry["message"].get<std::string>() == message);
  return 0;
}
