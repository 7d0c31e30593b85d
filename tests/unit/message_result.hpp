#pragma once
// Assertions on Result<T, MessageError> (config/result.hpp): a success that shows the message
// when it fails, and the message of a call that must fail.
#include <gtest/gtest.h>

#include <string>

#include "config/result.hpp"

namespace regmirror::testing {

// ASSERT_TRUE(succeeded(call())): on failure the test output carries the error's message.
template <class T>
::testing::AssertionResult succeeded(const Result<T, MessageError>& result) {
  if (result.has_value()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "failed: " << result.error().message;
}

// The message of a result that must be an error; a success fails the test and gives "".
template <class T>
std::string failure_message(const Result<T, MessageError>& result) {
  if (result.has_value()) {
    ADD_FAILURE() << "expected an error, the call succeeded";
    return {};
  }
  return result.error().message;
}

}  // namespace regmirror::testing
