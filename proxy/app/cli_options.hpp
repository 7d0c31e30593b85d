#pragma once
// The one option parser of every command: declare the options (each with its names, e.g.
// {"--output", "-o"}), then parse. `--help`/`-h` prints the usage; every error is one line on
// stderr naming the command and the option ("regmirror seed: --admin needs a value").
// Values are taken as `--name VALUE` or `--name=VALUE`; given twice, the last one counts
// (except for values(), which keeps every one).
#include <functional>
#include <initializer_list>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace regmirror::app {

class CliOptions {
 public:
  // `command`: as the user typed it after "regmirror" ("seed", "cache"); `usage`: the --help text.
  CliOptions(std::string command, std::string usage);

  // A boolean option: present sets `out` to true.
  CliOptions& flag(std::initializer_list<const char*> names, bool& out);
  // An option with a value; `take` stores it, returning "" or why it is wrong (the message is
  // printed after "regmirror COMMAND: --name: ").
  CliOptions& value(std::initializer_list<const char*> names,
                    std::function<std::string(const std::string&)> take);
  // Any value, stored as given.
  CliOptions& value(std::initializer_list<const char*> names, std::string& out);
  // Any value, stored as given; stays nullopt when the option is absent.
  CliOptions& value(std::initializer_list<const char*> names, std::optional<std::string>& out);
  // A repeatable option: every value, in order.
  CliOptions& values(std::initializer_list<const char*> names, std::vector<std::string>& out);
  // Arguments that are not options, in order. Without this, one is an error.
  CliOptions& positionals(std::vector<std::string>& out);
  // Where --help and usage errors go (std::cout and std::cerr unless set); for commands whose
  // streams are injected by their tests.
  CliOptions& streams(std::ostream& out, std::ostream& err);

  enum class Outcome { kParsed, kHelp, kUsageError };
  Outcome parse(const std::vector<std::string>& args) const;
  // The exit status when the command stops here (kHelp -> 0, kUsageError -> 2); nullopt
  // (kParsed) when it goes on.
  static std::optional<int> exit_code(Outcome outcome);
  // Prints "regmirror COMMAND: message" and returns 2 (for checks after parsing).
  int usage_error(const std::string& message) const;

 private:
  struct Option {
    std::vector<std::string> names;
    bool takes_value = false;
    bool* flag = nullptr;
    std::function<std::string(const std::string&)> take;
  };
  const Option* find(const std::string& name) const;

  std::string command_;
  std::string usage_;
  std::vector<Option> options_;
  std::vector<std::string>* positionals_ = nullptr;
  std::ostream* out_;
  std::ostream* err_;
};

}  // namespace regmirror::app
