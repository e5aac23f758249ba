// main() for a fuzz target built without libFuzzer: feeds every file named
// on the command line, or found under a directory named there, to
// LLVMFuzzerTestOneInput once. A crash is a test failure; so is a corpus
// directory with no file in it (a wrong path would otherwise pass silently).
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

namespace {

int replay(const std::filesystem::path &file) {
  // Named first, so the log of a crashing replay ends with its input.
  std::fprintf(stderr, "%s\n", file.c_str());
  std::ifstream in(file, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // An exact-size heap copy, so a sanitizer sees any read past the input.
  std::vector<uint8_t> exact(bytes.begin(), bytes.end());
  return LLVMFuzzerTestOneInput(exact.data(), exact.size());
}

}  // namespace

int main(int argc, char **argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: %s CORPUS_DIR_OR_FILE...\n  replays each input "
                 "through the fuzz target once\n",
                 argv[0]);
    return 2;
  }
  size_t inputs = 0;
  for (int i = 1; i < argc; ++i) {
    std::filesystem::path arg(argv[i]);
    std::error_code ec;
    if (std::filesystem::is_directory(arg, ec)) {
      for (const auto &e : std::filesystem::recursive_directory_iterator(arg)) {
        if (!e.is_regular_file()) continue;
        replay(e.path());
        ++inputs;
      }
    } else if (std::filesystem::is_regular_file(arg, ec)) {
      replay(arg);
      ++inputs;
    } else {
      std::fprintf(stderr, "%s: no such file or directory\n", argv[i]);
      return 2;
    }
  }
  std::printf("replayed %zu inputs\n", inputs);
  if (inputs == 0) {
    std::fprintf(stderr, "no inputs found: check the corpus path\n");
    return 1;
  }
  return 0;
}
