// Config loading (config/load.hpp parse_config). A bad config must end in ConfigError (a
// one-line message, exit 2); any other exception, crash or sanitizer report is a finding.
// Property: an accepted config has a default registry that it names and a valid listen port.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config/load.hpp"
#include "tests/fuzz/fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace regmirror::config;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  try {
    Config config = parse_config(input);
    FUZZ_CHECK(!config.registries.empty());
    FUZZ_CHECK(!config.data_dir.empty());
    FUZZ_CHECK(config.listen.rfind(':') != std::string::npos);
    bool named = config.registries.contains(config.default_registry);
    for (const auto& [name, registry] : config.registries) {
      FUZZ_CHECK(!registry.upstreams.empty());
      for (const auto& alias : registry.aliases) named = named || alias == config.default_registry;
      for (const auto& upstream : registry.upstreams) {
        FUZZ_CHECK(upstream.url.rfind("http://", 0) == 0 || upstream.url.rfind("https://", 0) == 0);
      }
    }
    FUZZ_CHECK(named);
  } catch (const ConfigError& e) {
    FUZZ_CHECK(e.what()[0] != '\0');
  }
  return 0;
}
