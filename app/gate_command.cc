// tlslab gate: runs the gates of a gates file (docs/ci-gating.md). The gate is Python
// (bindings/tlslab/gate.py: TOML, statistics, reports); this is the thin dispatch that makes it
// a subcommand: exec Debian's interpreter ($TLSLAB_PYTHON, default /usr/bin/python3) on the
// package of this build (build/python) when this binary is the build's own, else on the
// package the interpreter finds itself (installed: cmake --install puts it in dist-packages).
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "app/commands.h"

namespace tlslab {
namespace {

// `python3 -m tlslab.gate`, but a package that does not import (the compiled module was not
// built) is one line and exit 2, not a traceback.
constexpr const char* kBootstrap =
    "import sys\n"
    "try:\n"
    "    import tlslab.gate as gate\n"
    "except ImportError as e:\n"
    "    print('tlslab gate: error: the tlslab Python package does not import: ' +\n"
    "          str(e).splitlines()[0], file=sys.stderr)\n"
    "    sys.exit(2)\n"
    "sys.exit(gate.main())\n";

std::filesystem::path Canonical(const std::filesystem::path& path) {
  std::error_code ec;
  std::filesystem::path out = std::filesystem::canonical(path, ec);
  return ec ? std::filesystem::path() : out;
}

// build/python when this binary is build/tlslab of the build that made that package; empty
// for an installed binary (its package is on the interpreter's own sys.path).
std::string BuildPythonDir() {
#if defined(TLSLAB_BUILD_DIR) && defined(TLSLAB_BUILD_PYTHON_DIR)
  const std::filesystem::path self = Canonical("/proc/self/exe");
  const std::filesystem::path build = Canonical(TLSLAB_BUILD_DIR);
  const std::filesystem::path python = Canonical(TLSLAB_BUILD_PYTHON_DIR);
  if (!self.empty() && !build.empty() && !python.empty() && self.parent_path() == build &&
      std::filesystem::exists(python / "tlslab" / "gate.py")) {
    return python.string();
  }
#endif
  return "";
}

}  // namespace

int GateCommand(const Args& args) {
  const char* env_python = std::getenv("TLSLAB_PYTHON");
  const std::string python = env_python && *env_python ? env_python : "/usr/bin/python3";
  const std::string package_dir = BuildPythonDir();
  if (!package_dir.empty()) {
    const char* old = std::getenv("PYTHONPATH");
    const std::string path = old && *old ? package_dir + ":" + old : package_dir;
    setenv("PYTHONPATH", path.c_str(), 1);
  }
  // The package runs this same command for `tlslab run`/`probe` unless told otherwise.
  const std::filesystem::path self = Canonical("/proc/self/exe");
  if (!self.empty()) setenv("TLSLAB_BIN", self.c_str(), 0);
  std::vector<std::string> words = {python, "-c", kBootstrap};
  words.insert(words.end(), args.begin(), args.end());
  std::vector<char*> argv;
  argv.reserve(words.size() + 1);
  for (std::string& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  execv(python.c_str(), argv.data());
  std::fprintf(stderr,
               "tlslab gate: error: cannot run the Python interpreter %s (set TLSLAB_PYTHON): %s\n",
               python.c_str(), std::strerror(errno));
  return 2;
}

}  // namespace tlslab
