#pragma once
// One line per event: `ts=... level=info event=request registry=docker.io repo=library/alpine ...`
// or the same fields as a JSON object per line. Thread-safe; lines never interleave.
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace regmirror::proxy::logging {

enum class Level { kDebug, kInfo, kWarn, kError };
enum class Format { kText, kJson };

void set_format(Format format);

using Field = std::pair<std::string_view, std::string_view>;

// Fields with empty values are left out. Values are quoted when they contain spaces or quotes.
void log(Level level, std::string_view event, std::initializer_list<Field> fields);

inline void info(std::string_view event, std::initializer_list<Field> fields) {
  log(Level::kInfo, event, fields);
}
inline void warn(std::string_view event, std::initializer_list<Field> fields) {
  log(Level::kWarn, event, fields);
}
inline void error(std::string_view event, std::initializer_list<Field> fields) {
  log(Level::kError, event, fields);
}

}  // namespace regmirror::proxy::logging
