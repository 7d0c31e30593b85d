# Version and git commit for `regmirror --version`, fixed at configure time.
# The version is the project's VERSION; the commit is `git rev-parse --short=12 HEAD`, with
# "-dirty" when tracked files differed from HEAD at configure time, or "unknown" outside a git
# checkout (a source tarball: packagers may pass -DREGMIRROR_GIT_COMMIT=...). HEAD and the
# branch's ref file are configure dependencies, so a new commit re-runs the configure step.
set(REGMIRROR_GIT_COMMIT "" CACHE STRING "Commit printed by --version (empty: ask git)")

# Makes the file git keeps `ref` in (HEAD, refs/heads/x) a configure dependency, if it exists.
function(regmirror_depend_on_git_ref git ref)
  execute_process(COMMAND ${git} rev-parse --git-path ${ref}
                  WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
                  OUTPUT_VARIABLE path OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(path AND NOT IS_ABSOLUTE "${path}")
    set(path "${PROJECT_SOURCE_DIR}/${path}")
  endif()
  # In script mode (cmake -P, used by the test) there is no configure step to re-run.
  if(path AND EXISTS "${path}" AND NOT CMAKE_SCRIPT_MODE_FILE)
    set_property(DIRECTORY ${PROJECT_SOURCE_DIR} APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${path}")
  endif()
endfunction()

set(regmirror_commit "${REGMIRROR_GIT_COMMIT}")
if(regmirror_commit STREQUAL "")
  set(regmirror_commit "unknown")
  find_program(GIT_EXECUTABLE git)
  if(GIT_EXECUTABLE)
    execute_process(COMMAND ${GIT_EXECUTABLE} rev-parse --short=12 HEAD
                    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
                    RESULT_VARIABLE git_rc OUTPUT_VARIABLE git_head
                    OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    if(git_rc EQUAL 0 AND git_head MATCHES "^[0-9a-f]+$")
      set(regmirror_commit "${git_head}")
      execute_process(COMMAND ${GIT_EXECUTABLE} diff-index --quiet HEAD --
                      WORKING_DIRECTORY ${PROJECT_SOURCE_DIR} RESULT_VARIABLE git_dirty ERROR_QUIET)
      if(NOT git_dirty EQUAL 0)
        string(APPEND regmirror_commit "-dirty")
      endif()
      regmirror_depend_on_git_ref(${GIT_EXECUTABLE} HEAD)
      execute_process(COMMAND ${GIT_EXECUTABLE} symbolic-ref -q HEAD
                      WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
                      OUTPUT_VARIABLE git_branch_ref OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
      if(git_branch_ref)
        regmirror_depend_on_git_ref(${GIT_EXECUTABLE} ${git_branch_ref})
      endif()
    endif()
  endif()
endif()
set(REGMIRROR_VERSION_STRING "${PROJECT_VERSION}")
set(REGMIRROR_COMMIT_STRING "${regmirror_commit}")
configure_file(${PROJECT_SOURCE_DIR}/proxy/app/build_info.hpp.in
               ${PROJECT_BINARY_DIR}/generated/proxy/app/build_info.hpp @ONLY)
message(STATUS "regmirror ${PROJECT_VERSION} (commit ${regmirror_commit})")
