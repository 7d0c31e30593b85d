#include "proxy/app/cli_options.hpp"

#include <iostream>

namespace regmirror::app {

CliOptions::CliOptions(std::string command, std::string usage)
    : command_(std::move(command)), usage_(std::move(usage)), out_(&std::cout), err_(&std::cerr) {}

CliOptions& CliOptions::flag(std::initializer_list<const char*> names, bool& out) {
  options_.push_back(Option{std::vector<std::string>(names.begin(), names.end()), false, &out, {}});
  return *this;
}

CliOptions& CliOptions::value(std::initializer_list<const char*> names,
                              std::function<std::string(const std::string&)> take) {
  options_.push_back(
      Option{std::vector<std::string>(names.begin(), names.end()), true, nullptr, std::move(take)});
  return *this;
}

CliOptions& CliOptions::value(std::initializer_list<const char*> names, std::string& out) {
  return value(names, [&out](const std::string& text) {
    out = text;
    return std::string();
  });
}

CliOptions& CliOptions::value(std::initializer_list<const char*> names,
                              std::optional<std::string>& out) {
  return value(names, [&out](const std::string& text) {
    out = text;
    return std::string();
  });
}

CliOptions& CliOptions::values(std::initializer_list<const char*> names,
                               std::vector<std::string>& out) {
  return value(names, [&out](const std::string& text) {
    out.push_back(text);
    return std::string();
  });
}

CliOptions& CliOptions::positionals(std::vector<std::string>& out) {
  positionals_ = &out;
  return *this;
}

CliOptions& CliOptions::streams(std::ostream& out, std::ostream& err) {
  out_ = &out;
  err_ = &err;
  return *this;
}

const CliOptions::Option* CliOptions::find(const std::string& name) const {
  for (const auto& option : options_) {
    for (const auto& candidate : option.names) {
      if (candidate == name) return &option;
    }
  }
  return nullptr;
}

CliOptions::Outcome CliOptions::parse(const std::vector<std::string>& args) const {
  for (std::size_t i = 0; i < args.size(); ++i) {
    const auto& arg = args[i];
    if (arg == "--help" || arg == "-h") {
      *out_ << usage_;
      return Outcome::kHelp;
    }
    if (!arg.starts_with("-") || arg == "-") {
      if (positionals_ == nullptr) {
        usage_error("unexpected argument '" + arg + "' (see regmirror " + command_ + " --help)");
        return Outcome::kUsageError;
      }
      positionals_->push_back(arg);
      continue;
    }
    auto eq = arg.starts_with("--") ? arg.find('=') : std::string::npos;
    auto name = arg.substr(0, eq);
    const Option* option = find(name);
    if (option == nullptr) {
      usage_error("unknown option '" + name + "' (see regmirror " + command_ + " --help)");
      return Outcome::kUsageError;
    }
    const auto& shown = option->names.front();
    if (!option->takes_value) {
      if (eq != std::string::npos) {
        usage_error(shown + " takes no value");
        return Outcome::kUsageError;
      }
      *option->flag = true;
      continue;
    }
    std::string text;
    if (eq != std::string::npos) {
      text = arg.substr(eq + 1);
    } else if (i + 1 < args.size()) {
      text = args[++i];
    } else {
      usage_error(shown + " needs a value");
      return Outcome::kUsageError;
    }
    if (auto why = option->take(text); !why.empty()) {
      usage_error(shown + ": " + why);
      return Outcome::kUsageError;
    }
  }
  return Outcome::kParsed;
}

std::optional<int> CliOptions::exit_code(Outcome outcome) {
  switch (outcome) {
    case Outcome::kHelp: return 0;
    case Outcome::kUsageError: return 2;
    case Outcome::kParsed: break;
  }
  return std::nullopt;
}

int CliOptions::usage_error(const std::string& message) const {
  *err_ << "regmirror " << command_ << ": " << message << "\n";
  return 2;
}

}  // namespace regmirror::app
