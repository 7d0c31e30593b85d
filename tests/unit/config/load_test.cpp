#include "config/load.hpp"

#include <gtest/gtest.h>

#include <string>

namespace regmirror::config {
namespace {

// The message of the ConfigError that parsing `json` throws, or "" when it parses.
std::string error_of(const std::string& json) {
  try {
    parse_config(json);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

const char* kMinimal = R"({"registries": {"docker.io": {"upstreams": [{"url": "http://127.0.0.1:5001"}]}}})";

TEST(ConfigLoad, EmbeddedDefaultServesThePublicRegistries) {
  auto config = default_config();
  EXPECT_EQ(config.listen, "0.0.0.0:5000");
  EXPECT_EQ(config.data_dir, "./regmirror-data");
  EXPECT_EQ(config.default_registry, "docker.io");
  for (const char* name : {"docker.io", "registry.k8s.io", "gcr.io", "quay.io", "ghcr.io",
                           "docker.pkg.github.com"}) {
    EXPECT_TRUE(config.registries.contains(name)) << name;
  }
  EXPECT_EQ(config.registries.at("registry.k8s.io").aliases,
            std::vector<std::string>{"k8s.gcr.io"});
  const auto& github = config.registries.at("docker.pkg.github.com").upstreams.at(0);
  EXPECT_EQ(github.url, "https://ghcr.io");
  EXPECT_EQ(github.path_template, "{owner}/{basename}");
}

TEST(ConfigLoad, ParsesEveryField) {
  auto config = parse_config(R"({
    "listen": "127.0.0.1:0", "data_dir": "/tmp/x", "max_cache_bytes": 1073741824,
    "default_registry": "docker.io", "offline": true, "log_format": "json",
    "registries": {
      "docker.io": {"upstreams": [{"url": "http://127.0.0.1:5001/", "username": "me",
                                   "password_file": "/run/secret"}], "tag_ttl_seconds": 60},
      "registry.k8s.io": {"aliases": ["k8s.gcr.io"], "upstreams": [
          {"url": "http://127.0.0.1:5002", "path": "container_service/{basename}"},
          {"url": "http://127.0.0.1:5003"}]}
    },
    "storage": {"s3": {"endpoint": "http://127.0.0.1:17080", "bucket": "b", "path_style": true}}
  })");
  EXPECT_EQ(config.listen, "127.0.0.1:0");
  EXPECT_EQ(config.max_cache_bytes, 1073741824u);
  EXPECT_TRUE(config.offline);
  EXPECT_EQ(config.log_format, LogFormat::kJson);
  const auto& hub = config.registries.at("docker.io");
  EXPECT_EQ(hub.tag_ttl.count(), 60);
  EXPECT_EQ(hub.upstreams.at(0).url, "http://127.0.0.1:5001");  // trailing slash dropped
  EXPECT_EQ(hub.upstreams.at(0).username, "me");
  EXPECT_EQ(config.registries.at("registry.k8s.io").upstreams.size(), 2u);
  ASSERT_TRUE(config.storage.s3.has_value());
  EXPECT_TRUE(config.storage.s3->path_style);
  EXPECT_EQ(config.storage.s3->region, "us-east-1");
}

TEST(ConfigLoad, RejectsUnknownKeysNamingThem) {
  EXPECT_NE(error_of(R"({"listne": "x", "registries": {}})").find("listne: unknown key"),
            std::string::npos);
  auto nested = error_of(
      R"({"registries": {"docker.io": {"upstreams": [{"url": "http://127.0.0.1:1", "pasword": "x"}]}}})");
  EXPECT_NE(nested.find("registries.docker.io.upstreams[0].pasword: unknown key"),
            std::string::npos)
      << nested;
}

TEST(ConfigLoad, RejectsBadValuesNamingTheKey) {
  struct Case {
    const char* json;
    const char* key;
  } cases[] = {
      {R"({"listen": "nope", "registries": {"docker.io": {"upstreams": [{"url": "http://a"}]}}})", "listen"},
      {R"({"listen": "0.0.0.0:99999", "registries": {"docker.io": {"upstreams": [{"url": "http://a"}]}}})", "listen"},
      {R"({"offline": "yes", "registries": {"docker.io": {"upstreams": [{"url": "http://a"}]}}})", "offline"},
      {R"({"max_cache_bytes": -1, "registries": {"docker.io": {"upstreams": [{"url": "http://a"}]}}})", "max_cache_bytes"},
      {R"({"log_format": "xml", "registries": {"docker.io": {"upstreams": [{"url": "http://a"}]}}})", "log_format"},
      {R"({"registries": {"docker.io": {"upstreams": [{"url": "ftp://a"}]}}})", "upstreams[0].url"},
      {R"({"registries": {"docker.io": {"upstreams": [{"url": "http://user:pw@a"}]}}})", "upstreams[0].url"},
      {R"({"registries": {"docker.io": {"upstreams": []}}})", "registries.docker.io.upstreams"},
      {R"({"registries": {"docker.io": {}}})", "registries.docker.io.upstreams"},
      {R"({"registries": {"docker.io": {"upstreams": [{"url": "http://a", "path": "x/{nope}"}]}}})", "upstreams[0].path"},
      {R"({"registries": {"docker.io": {"upstreams": [{"url": "http://a", "path": "{repo"}]}}})", "upstreams[0].path"},
      {R"({"registries": {"docker.io": {"upstreams": [{"url": "http://a", "path": "UPPER/{repo}"}]}}})", "upstreams[0].path"},
      {R"({"registries": {"docker.io": {"upstreams": [{"url": "http://a", "password_file": "/x"}]}}})", "upstreams[0].username"},
      {R"({"registries": {"bad host!": {"upstreams": [{"url": "http://a"}]}}})", "registries.bad host!"},
      {R"({"default_registry": "quay.io", "registries": {"docker.io": {"upstreams": [{"url": "http://a"}]}}})", "default_registry"},
      {R"({"registries": {"docker.io": {"upstreams": [{"url": "http://a"}]}, "quay.io": {"aliases": ["docker.io"], "upstreams": [{"url": "http://a"}]}}})", "registries.quay.io.aliases"},
      {R"({"registries": {}})", "registries"},
      {R"({"storage": {"s3": {"bucket": "b"}}, "registries": {"docker.io": {"upstreams": [{"url": "http://a"}]}}})", "storage.s3.endpoint"},
  };
  for (const auto& c : cases) {
    auto message = error_of(c.json);
    EXPECT_NE(message.find(c.key), std::string::npos) << c.json << " -> " << message;
  }
}

TEST(ConfigLoad, RejectsInvalidJsonClearly) {
  EXPECT_NE(error_of("{\"listen\": ").find("not valid JSON"), std::string::npos);
  EXPECT_NE(error_of("[1, 2]").find("must be an object"), std::string::npos);
  // Found by fuzz_config: a number no double holds made nlohmann throw out_of_range.
  EXPECT_NE(error_of("{\"max_cache_bytes\": -11e400}").find("not valid JSON"), std::string::npos);
  EXPECT_EQ(error_of(kMinimal), "");
  // Found by fuzz_config: a key with a NUL byte made the message look empty.
  auto nul_key = error_of(std::string("{\"a\\u0000b\": 1}"));
  EXPECT_NE(nul_key.find("a\\x00b: unknown key"), std::string::npos) << nul_key;
}

TEST(ConfigLoad, MissingFileIsAClearError) {
  try {
    load_config_file("/nonexistent/regmirror.json");
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/regmirror.json"), std::string::npos);
  }
}

// access.scopes: registries by name or alias (kept canonical), globs checked.
std::string with_scopes(const std::string& scopes) {
  return R"({"registries": {"docker.io": {"upstreams": [{"url": "http://127.0.0.1:9"}]},
             "registry.k8s.io": {"aliases": ["k8s.gcr.io"],
                                 "upstreams": [{"url": "http://127.0.0.1:9"}]}},
            "access": {"scopes": )" + scopes + "}}";
}

TEST(ClientScopesLoad, AliasesBecomeTheCanonicalRegistry) {
  auto config = parse_config(with_scopes(R"({"alice": ["docker.io/library/*", "k8s.gcr.io/pause"]})"));
  EXPECT_EQ(config.access.scopes.at("alice"),
            (std::vector<std::string>{"docker.io/library/*", "registry.k8s.io/pause"}));
}

TEST(ClientScopesLoad, BadEntriesNameTheirKey) {
  EXPECT_NE(error_of(with_scopes(R"(["alice"])")).find("access.scopes"), std::string::npos);
  EXPECT_NE(error_of(with_scopes(R"({"alice": "docker.io/*"})")).find("access.scopes.alice"),
            std::string::npos);
  EXPECT_NE(error_of(with_scopes(R"({"alice": ["alpine"]})")).find("REGISTRY/GLOB"),
            std::string::npos);
  // A first segment that is not a configured registry (here a repository) is refused too.
  EXPECT_NE(error_of(with_scopes(R"({"alice": ["library/*"]})")).find("'library' is not a configured"),
            std::string::npos);
  EXPECT_NE(error_of(with_scopes(R"({"alice": ["quay.io/x"]})")).find("not a configured registry"),
            std::string::npos);
  EXPECT_NE(error_of(with_scopes(R"({"alice": ["docker.io/Bad//glob"]})")).find("access.scopes.alice[0]"),
            std::string::npos);
  EXPECT_NE(error_of(with_scopes(R"({"alice": [7]})")).find("must be a string"), std::string::npos);
}

}  // namespace
}  // namespace regmirror::config
