// LineFile: a text file that only ever holds whole lines, for metrics that plotting scripts
// read while a run is going (tail -f, pandas every minute) and after it has died.
//
// Each line is handed to the kernel in one write at the end of the file, so a reader sees
// lines appear whole. If a write fails part way (disk full), the file is cut back to its last
// whole line before the error is thrown; and a file reopened to append (a resumed run) first
// loses any partial last line that a killed process left behind. Missing parent directories
// are created.
#pragma once
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ranklens/core/error.hpp"

namespace ranklens::train {

class LineFile {
 public:
  enum class mode { replace, append };

  explicit LineFile(std::filesystem::path path, mode open_mode = mode::replace) : path_(std::move(path)) {
    if (path_.has_parent_path()) {
      std::error_code failure;
      std::filesystem::create_directories(path_.parent_path(), failure);
      if (failure) throw io_error("LineFile: cannot create the directory of '" + path_.string() + "': " + failure.message());
    }
    // Read access too: reopening to append looks for the last newline.
    const int flags = O_RDWR | O_CREAT | O_CLOEXEC | (open_mode == mode::replace ? O_TRUNC : 0);
    descriptor_ = ::open(path_.c_str(), flags, 0666);
    if (descriptor_ < 0) fail("cannot open");
    struct stat status {};
    if (::fstat(descriptor_, &status) != 0) fail("cannot stat");
    size_ = status.st_size;
    if (open_mode == mode::append) drop_partial_last_line();
  }

  LineFile(const LineFile&) = delete;
  LineFile& operator=(const LineFile&) = delete;
  LineFile(LineFile&& other) noexcept
      : path_(std::move(other.path_)), descriptor_(std::exchange(other.descriptor_, -1)), size_(other.size_) {}
  LineFile& operator=(LineFile&& other) noexcept {
    if (this != &other) {
      close();
      path_ = std::move(other.path_);
      descriptor_ = std::exchange(other.descriptor_, -1);
      size_ = other.size_;
    }
    return *this;
  }
  ~LineFile() { close(); }

  // Appends `line` and a newline. The line itself may not contain a newline.
  void write_line(std::string_view line) {
    if (line.find('\n') != std::string_view::npos)
      throw value_error("LineFile::write_line: the line for '" + path_.string() + "' contains a newline");
    std::string whole;
    whole.reserve(line.size() + 1);
    whole.append(line).push_back('\n');
    std::string_view rest = whole;
    off_t at = size_;
    while (!rest.empty()) {
      const ::ssize_t written = ::pwrite(descriptor_, rest.data(), rest.size(), at);
      if (written < 0) {
        if (errno == EINTR) continue;
        const int reason = errno;
        // Best effort: the error that matters is the write's, so a failed cut is not reported.
        [[maybe_unused]] const int ignored = ::ftruncate(descriptor_, size_);
        throw io_error("LineFile: cannot write to '" + path_.string() + "': " + std::strerror(reason) +
                       " (the file keeps its whole lines only)");
      }
      rest.remove_prefix(std::size_t(written));
      at += written;
    }
    size_ = at;
  }

  // Bytes in the file: every one of them belongs to a whole line.
  std::size_t size() const noexcept { return std::size_t(size_); }
  bool empty() const noexcept { return size_ == 0; }
  const std::filesystem::path& path() const noexcept { return path_; }

 private:
  // Cuts the file after its last newline (a line torn by a process killed mid-write).
  void drop_partial_last_line() {
    off_t keep = size_;
    char block[4096];
    bool found = false;
    while (keep > 0 && !found) {
      const off_t start = keep > off_t(sizeof block) ? keep - off_t(sizeof block) : 0;
      const std::size_t length = std::size_t(keep - start);
      if (::pread(descriptor_, block, length, start) != ::ssize_t(length)) fail("cannot read");
      std::size_t i = length;
      while (i > 0 && block[i - 1] != '\n') --i;
      found = i > 0;
      keep = start + off_t(i);
    }
    if (keep != size_ && ::ftruncate(descriptor_, keep) != 0) fail("cannot cut the partial last line of");
    size_ = keep;
  }

  [[noreturn]] void fail(const char* what) {
    const int reason = errno;
    close();
    throw io_error(std::string("LineFile: ") + what + " '" + path_.string() + "': " + std::strerror(reason));
  }

  void close() noexcept {
    if (descriptor_ >= 0) ::close(std::exchange(descriptor_, -1));
  }

  std::filesystem::path path_;
  int descriptor_ = -1;
  off_t size_ = 0;
};

}  // namespace ranklens::train
