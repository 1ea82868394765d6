// Replacing a file so that readers see the old contents or the new, never a mix (POSIX).
//
// The bytes go to "<target>.tmp.<pid>" in the target's directory (rename is only atomic within
// one file system), the file is fsynced so its data is on disk before its name is, then it is
// renamed over the target and the directory is fsynced so the rename itself survives a crash.
// If anything fails before the rename, the temporary file is removed and the old target is
// untouched. A side benefit: a process that has the old file memory-mapped keeps its pages,
// because the old inode lives on until it is unmapped, where truncating in place would make
// that process die of SIGBUS.
#pragma once
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ranklens/core/error.hpp"

namespace ranklens::io {

class atomic_file {
 public:
  // Creates the temporary file; fails if it already exists (another writer of the same target
  // in this process, or the leftover of a crashed process that had the same pid).
  explicit atomic_file(std::filesystem::path target)
      : target_(std::move(target)),
        temporary_(target_.string() + ".tmp." + std::to_string(::getpid())) {
    // 0666 before the umask, as for any file a program creates.
    descriptor_ = ::open(temporary_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (descriptor_ < 0) {
      const int reason = errno;
      fail(reason, "cannot create the temporary file " + quoted(temporary_));
    }
    owns_temporary_ = true;
    buffer_.reserve(buffer_capacity);
  }

  atomic_file(const atomic_file&) = delete;
  atomic_file& operator=(const atomic_file&) = delete;

  // Not committed: the temporary file goes, the target stays as it was.
  ~atomic_file() { abandon(); }

  void write(std::span<const std::byte> bytes) {
    if (descriptor_ < 0) fail(0, "write after commit or failure");
    if (buffer_.size() + bytes.size() > buffer_capacity) flush();
    // Large blocks (most tensors) go straight to the kernel; small ones (headers, biases) are
    // gathered so that a model with thousands of tiny tensors is not thousands of syscalls.
    if (bytes.size() >= buffer_capacity) {
      write_to_descriptor(bytes);
    } else {
      buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
    }
  }

  // Makes the new contents durable and puts them in place of the target.
  void commit() {
    if (descriptor_ < 0) fail(0, "commit after commit or failure");
    flush();
    if (::fsync(descriptor_) != 0) {
      const int reason = errno;
      fail(reason, "cannot fsync " + quoted(temporary_));
    }
    // close can report a delayed write error (NFS), so its result matters.
    const int closed = ::close(std::exchange(descriptor_, -1));
    if (closed != 0) {
      const int reason = errno;
      fail(reason, "cannot close " + quoted(temporary_));
    }
    if (::rename(temporary_.c_str(), target_.c_str()) != 0) {
      const int reason = errno;
      fail(reason, "cannot rename " + quoted(temporary_) + " over " + quoted(target_));
    }
    committed_ = true;
    sync_directory();
  }

  const std::filesystem::path& target() const noexcept { return target_; }
  const std::filesystem::path& temporary() const noexcept { return temporary_; }

 private:
  static constexpr std::size_t buffer_capacity = std::size_t{1} << 20;

  // Built by appending: GCC 12 warns falsely (-Wrestrict, bug 105329) on "'" + string.
  static std::string quoted(const std::filesystem::path& path) {
    std::string out(1, '\'');
    out += path.string();
    out += '\'';
    return out;
  }

  void flush() {
    write_to_descriptor(buffer_);
    buffer_.clear();
  }

  void write_to_descriptor(std::span<const std::byte> bytes) {
    while (!bytes.empty()) {
      const ::ssize_t written = ::write(descriptor_, bytes.data(), bytes.size());
      if (written < 0) {
        if (errno == EINTR) continue;
        const int reason = errno;
        fail(reason, "cannot write to " + quoted(temporary_));
      }
      bytes = bytes.subspan(static_cast<std::size_t>(written));
    }
  }

  void sync_directory() {
    const std::filesystem::path directory =
        target_.has_parent_path() ? target_.parent_path() : std::filesystem::path(".");
    const int directory_descriptor = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (directory_descriptor < 0) {
      const int reason = errno;
      throw_after_rename(reason, "cannot open its directory " + quoted(directory) + " to fsync it");
    }
    const int synced = ::fsync(directory_descriptor);
    const int reason = errno;
    ::close(directory_descriptor);
    // Some file systems cannot fsync a directory at all; the rename is then as durable as
    // they make it, and there is nothing more to do.
    if (synced != 0 && reason != EINVAL && reason != ENOTSUP)
      throw_after_rename(reason, "cannot fsync its directory " + quoted(directory));
  }

  // The new file is in place already; say so, since the caller may wonder what is on disk.
  [[noreturn]] void throw_after_rename(int reason, const std::string& what) const {
    throw io_error("atomic_file: wrote " + quoted(target_) + ", but " + what + ": " + std::strerror(reason) +
                   "; the new file may not survive a crash");
  }

  void abandon() noexcept {
    if (descriptor_ >= 0) ::close(std::exchange(descriptor_, -1));
    if (owns_temporary_ && !committed_) ::unlink(temporary_.c_str());
    owns_temporary_ = false;
  }

  // Cleans up first so that, by the time the caller sees the error, the target directory is
  // as it was.
  [[noreturn]] void fail(int reason, const std::string& what) {
    std::string message = "atomic_file: " + what;
    if (reason != 0) message += std::string(": ") + std::strerror(reason);
    abandon();
    message += " (" + quoted(target_) + " is unchanged)";
    throw io_error(message);
  }

  std::filesystem::path target_;
  std::filesystem::path temporary_;
  int descriptor_ = -1;
  std::vector<std::byte> buffer_;
  bool owns_temporary_ = false;  // created by us and not yet renamed or removed
  bool committed_ = false;
};

// Writes `target` through `produce(atomic_file&)` and commits. An exception from `produce`
// propagates unchanged, after the temporary file is removed and with the target untouched.
template <class Producer>
void write_file_atomically(const std::filesystem::path& target, Producer&& produce) {
  atomic_file file(target);
  std::forward<Producer>(produce)(file);
  file.commit();
}

// Writes `text` as the whole of `target`, atomically (reports, configs, plots).
inline void write_text_atomically(const std::filesystem::path& target, std::string_view text) {
  write_file_atomically(target, [&](atomic_file& file) { file.write(std::as_bytes(std::span<const char>(text.data(), text.size()))); });
}

// Creates `directory` (and its parents) when missing and checks that a file can be made in it:
// what a program runs before work whose results go there, so that a bad --out fails at once.
// `what` names the directory in the error ("--out").
inline void require_writable_directory(const std::filesystem::path& directory, std::string_view what) {
  std::error_code failure;
  std::filesystem::create_directories(directory, failure);
  const auto probe = directory / (".write_test." + std::to_string(::getpid()));
  const int fd = failure ? -1 : ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    const std::string reason = failure ? failure.message() : std::strerror(errno);
    throw io_error(std::string(what) + " " + directory.string() + ": cannot write there (" + reason + ")");
  }
  ::close(fd);
  ::unlink(probe.c_str());
}

}  // namespace ranklens::io
