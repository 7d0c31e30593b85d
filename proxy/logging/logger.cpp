#include "proxy/logging/logger.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
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

// ISO 8601 UTC with milliseconds. The date and time up to the second are formatted once per
// second per thread: every request writes a line, and gmtime_r + snprintf per line showed up in
// profiles of cached manifests.
void append_timestamp(std::string& line) {
  thread_local std::int64_t cached_second = -1;
  thread_local std::array<char, 32> cached{};  // "YYYY-MM-DDTHH:MM:SS."
  thread_local std::size_t cached_length = 0;
  auto millis_since_epoch = std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
  std::int64_t second = millis_since_epoch / 1000;
  if (second != cached_second) {
    auto seconds = static_cast<std::time_t>(second);
    std::tm tm{};
    gmtime_r(&seconds, &tm);
    int n = std::snprintf(cached.data(), cached.size(), "%04d-%02d-%02dT%02d:%02d:%02d.",
                          tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                          tm.tm_sec);
    cached_length = n > 0 ? static_cast<std::size_t>(n) : 0;
    cached_second = second;
  }
  auto millis = static_cast<int>(millis_since_epoch % 1000);
  line.append(cached.data(), cached_length);
  line.push_back(static_cast<char>('0' + millis / 100));
  line.push_back(static_cast<char>('0' + millis / 10 % 10));
  line.push_back(static_cast<char>('0' + millis % 10));
  line.push_back('Z');
}

std::string timestamp() {
  std::string text;
  append_timestamp(text);
  return text;
}

bool is_control(char c) {
  auto u = static_cast<unsigned char>(c);
  return u < 0x20 || u == 0x7f;
}

// Values may carry client bytes (names, ns): control bytes are escaped as \xNN so a line is
// one line and a terminal shows it as text.
void append_text_value(std::string& line, std::string_view value) {
  bool quote = std::any_of(value.begin(), value.end(), [](char c) {
    return c == ' ' || c == '"' || c == '=' || c == '\\' || is_control(c);
  });
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
    line.reserve(256);
    line.append("ts=");
    append_timestamp(line);
    line.append(" level=").append(level_name(level)).append(" event=");
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
