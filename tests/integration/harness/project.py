"""Facts about the source tree the tests run from, and the skip-or-fail rule for tests of
built artefacts (the .deb, the image) that CI requires."""

import os
import re
import unittest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def project_version() -> str:
    """The top-level CMakeLists.txt's project VERSION (what --version and the package carry)."""
    with open(os.path.join(REPO, "CMakeLists.txt")) as f:
        m = re.search(r"^project\(regmirror VERSION (\d+\.\d+\.\d+)\b", f.read(), re.M)
    assert m, "CMakeLists.txt has no project(regmirror VERSION x.y.z)"
    return m.group(1)


def skip_or_fail(reason, require_variable: str) -> None:
    """With a reason the artefact cannot be tested: fail if $require_variable is 1 (CI), else
    skip the class. Call from setUpClass."""
    if not reason:
        return
    if os.environ.get(require_variable) == "1":
        raise AssertionError(f"{require_variable}=1 but {reason}")
    raise unittest.SkipTest(reason)
