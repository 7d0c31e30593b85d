// The one option parser of the commands: names and aliases, --name VALUE and --name=VALUE,
// values checked as taken, positionals, and one-line usage errors (exit status 2).
#include "proxy/app/cli_options.hpp"

#include <gtest/gtest.h>

#include <sstream>

namespace regmirror::app {
namespace {

using Outcome = CliOptions::Outcome;

struct Parsed {
  std::string output, admin;
  bool flag = false;
  int count = 0;
  std::vector<std::string> positional;
};

CliOptions make(Parsed& p) {
  CliOptions options("test", "usage text\n");
  options.value({"--output", "-o"}, p.output)
      .value({"--admin"}, p.admin)
      .flag({"--no-pin"}, p.flag)
      .value({"--count"},
             [&p](const std::string& text) {
               if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos)
                 return std::string("must be a number");
               p.count = std::stoi(text);
               return std::string();
             })
      .positionals(p.positional);
  return options;
}

TEST(CliOptions, TakesValuesFlagsAliasesAndPositionals) {
  Parsed p;
  auto options = make(p);
  EXPECT_EQ(options.parse({"ls", "-o", "x.tar", "--admin=http://127.0.0.1:1", "--no-pin",
                           "--count", "7", "ref"}),
            Outcome::kParsed);
  EXPECT_EQ(p.output, "x.tar");
  EXPECT_EQ(p.admin, "http://127.0.0.1:1");
  EXPECT_TRUE(p.flag);
  EXPECT_EQ(p.count, 7);
  EXPECT_EQ(p.positional, (std::vector<std::string>{"ls", "ref"}));
}

TEST(CliOptions, AValueMayStartWithADash) {
  Parsed p;
  auto options = make(p);
  EXPECT_EQ(options.parse({"--output", "-weird-name"}), Outcome::kParsed);
  EXPECT_EQ(p.output, "-weird-name");
}

TEST(CliOptions, UsageErrorsNameTheOption) {
  for (std::vector<std::string> bad : {std::vector<std::string>{"--admin"},
                                       {"--count", "x"},
                                       {"--unknown"},
                                       {"--no-pin=yes"}}) {
    Parsed p;
    auto options = make(p);
    testing::internal::CaptureStderr();
    EXPECT_EQ(options.parse(bad), Outcome::kUsageError) << bad[0];
    auto err = testing::internal::GetCapturedStderr();
    EXPECT_NE(err.find("regmirror test: "), std::string::npos) << err;
    EXPECT_NE(err.find(bad[0].substr(0, bad[0].find('='))), std::string::npos) << err;
    EXPECT_EQ(CliOptions::exit_code(Outcome::kUsageError), 2);
  }
}

TEST(CliOptions, HelpPrintsTheUsageAndPositionalsNeedADeclaration) {
  Parsed p;
  auto options = make(p);
  testing::internal::CaptureStdout();
  EXPECT_EQ(options.parse({"--help"}), Outcome::kHelp);
  EXPECT_EQ(testing::internal::GetCapturedStdout(), "usage text\n");
  EXPECT_EQ(CliOptions::exit_code(Outcome::kHelp), 0);
  EXPECT_FALSE(CliOptions::exit_code(Outcome::kParsed).has_value());
  bool flag = false;
  CliOptions strict("serve", "u");
  strict.flag({"--check-config"}, flag);
  testing::internal::CaptureStderr();
  EXPECT_EQ(strict.parse({"stray"}), Outcome::kUsageError);
  EXPECT_NE(testing::internal::GetCapturedStderr().find("unexpected argument 'stray'"),
            std::string::npos);
}

TEST(CliOptions, RepeatedValuesAreAllKeptOptionalValuesSayWhetherGivenAndTheLastValueWins) {
  std::vector<std::string> registries;
  std::optional<std::string> mirror;
  std::optional<std::string> absent;
  CliOptions options("node apply", "u");
  options.values({"--registry"}, registries).value({"--mirror"}, mirror).value({"--root"}, absent);
  EXPECT_EQ(options.parse({"--registry", "docker.io", "--mirror=http://a", "--registry=quay.io",
                           "--mirror", "http://b"}),
            Outcome::kParsed);
  EXPECT_EQ(registries, (std::vector<std::string>{"docker.io", "quay.io"}));
  EXPECT_EQ(mirror, "http://b");
  EXPECT_FALSE(absent.has_value());
  std::optional<std::string> empty;
  CliOptions given("node apply", "u");
  given.value({"--root"}, empty);
  EXPECT_EQ(given.parse({"--root="}), Outcome::kParsed);
  EXPECT_EQ(empty, "");
}

TEST(CliOptions, HelpAndErrorsGoToTheGivenStreams) {
  std::ostringstream out;
  std::ostringstream err;
  bool flag = false;
  CliOptions options("node check", "usage: regmirror node check\n");
  options.flag({"--logrotate"}, flag).streams(out, err);
  testing::internal::CaptureStdout();
  testing::internal::CaptureStderr();
  EXPECT_EQ(options.parse({"--help"}), Outcome::kHelp);
  EXPECT_EQ(options.parse({"--bogus"}), Outcome::kUsageError);
  EXPECT_EQ(options.usage_error("--root DIR is required"), 2);
  EXPECT_EQ(testing::internal::GetCapturedStdout(), "");
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
  EXPECT_EQ(out.str(), "usage: regmirror node check\n");
  EXPECT_EQ(err.str(),
            "regmirror node check: unknown option '--bogus' (see regmirror node check --help)\n"
            "regmirror node check: --root DIR is required\n");
}

}  // namespace
}  // namespace regmirror::app
