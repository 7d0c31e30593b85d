#include "proxy/logging/logger.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>

namespace regmirror::proxy::logging {
namespace {

std::atomic<Format> g_format{Format::kText};

std::string_view level_name(Level level) {
  switch (level) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "info";
}

std::string timestamp() {
  auto now = std::chrono::system_clock::now();
  auto seconds = std::chrono::system_clock::to_time_t(now);
  auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(millis));
  return buffer;
}

bool is_control(char c) {
  auto u = static_cast<unsigned char>(c);
  return u < 0x20 || u == 0x7f;
}

// Values may carry client bytes (names, ns): control bytes are escaped as \xNN so a line is
// one line and a terminal shows it as text.
void append_text_value(std::string& line, std::string_view value) {
  bool quote = value.find_first_of(" \"=\\") != std::string_view::npos ||
               std::any_of(value.begin(), value.end(), is_control);
  if (!quote) {
    line.append(value);
    return;
  }
  line.push_back('"');
  for (char c : value) {
    if (is_control(c)) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", static_cast<unsigned char>(c));
      line.append(escaped);
      continue;
    }
    if (c == '"' || c == '\\') line.push_back('\\');
    line.push_back(c);
  }
  line.push_back('"');
}

}  // namespace

void set_format(Format format) { g_format.store(format); }

void log(Level level, std::string_view event, std::initializer_list<Field> fields) {
  std::string line;
  if (g_format.load() == Format::kJson) {
    nlohmann::json doc{{"ts", timestamp()}, {"level", level_name(level)}, {"event", event}};
    for (const auto& [key, value] : fields) {
      if (!value.empty()) doc[std::string(key)] = value;
    }
    line = doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } else {
    line = "ts=" + timestamp() + " level=" + std::string(level_name(level)) + " event=";
    append_text_value(line, event);
    for (const auto& [key, value] : fields) {
      if (value.empty()) continue;
      line.push_back(' ');
      line.append(key);
      line.push_back('=');
      append_text_value(line, value);
    }
  }
  line.push_back('\n');
  // One write(2) per line keeps lines whole across threads without a lock.
  std::string_view rest = line;
  while (!rest.empty()) {
    ssize_t n = ::write(STDERR_FILENO, rest.data(), rest.size());
    if (n <= 0) break;
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
}

}  // namespace regmirror::proxy::logging
