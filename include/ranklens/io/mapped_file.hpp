// A whole file mapped read-only into memory, unmapped when the owner goes away (POSIX).
//
// Mapping rather than reading lets a reader touch only the tensors it asks for, and lets the
// page cache share one copy between processes. The price: if another program truncates the
// file while it is mapped, touching the lost pages raises SIGBUS. ranklens' own writer never
// does that, because it replaces files by rename (see atomic_file.hpp).
#pragma once
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <utility>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ranklens/core/error.hpp"

namespace ranklens::io {

class mapped_file {
 public:
  explicit mapped_file(const std::filesystem::path& path) : path_(path) {
    const int descriptor = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (descriptor < 0) {
      const int reason = errno;
      fail(reason, "cannot open " + quoted_path() + " for reading");
    }
    // The mapping keeps the file alive by itself, so the descriptor can close on every path.
    struct descriptor_closer {
      int descriptor;
      ~descriptor_closer() { ::close(descriptor); }
    } closer{descriptor};

    struct stat status {};
    if (::fstat(descriptor, &status) != 0) {
      const int reason = errno;
      fail(reason, "cannot stat " + quoted_path());
    }
    if (!S_ISREG(status.st_mode)) fail(0, quoted_path() + " is not a regular file");
    size_ = static_cast<std::size_t>(status.st_size);
    // mmap refuses a length of zero; an empty file simply has no bytes to map.
    if (size_ == 0) return;
    void* address = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, descriptor, 0);
    if (address == MAP_FAILED) {
      const int reason = errno;
      fail(reason, "cannot memory-map the " + std::to_string(size_) + " bytes of " + quoted_path());
    }
    address_ = address;
  }

  mapped_file(mapped_file&& other) noexcept
      : path_(std::move(other.path_)),
        address_(std::exchange(other.address_, nullptr)),
        size_(std::exchange(other.size_, 0)) {}

  mapped_file& operator=(mapped_file&& other) noexcept {
    if (this != &other) {
      unmap();
      path_ = std::move(other.path_);
      address_ = std::exchange(other.address_, nullptr);
      size_ = std::exchange(other.size_, 0);
    }
    return *this;
  }

  mapped_file(const mapped_file&) = delete;
  mapped_file& operator=(const mapped_file&) = delete;
  ~mapped_file() { unmap(); }

  // The file's bytes; they stay at the same address when the mapped_file is moved.
  std::span<const std::byte> bytes() const noexcept {
    return {static_cast<const std::byte*>(address_), size_};
  }
  std::size_t size() const noexcept { return size_; }
  const std::filesystem::path& path() const noexcept { return path_; }

  // Gives back the memory of the whole pages inside `range` (bytes of this file) once they have
  // been read: they leave this process's resident set, stay in the page cache, and are read
  // again if touched, so every span handed out stays valid. Copying a model's weights out of
  // its file then holds one copy of them, not two.
  void release(std::span<const std::byte> range) const noexcept {
    if (address_ == nullptr || range.empty()) return;
    const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
    const auto begin = reinterpret_cast<std::uintptr_t>(range.data());
    const auto first = (begin + page - 1) / page * page;
    const auto last = (begin + range.size()) / page * page;
    if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);  // a hint: failure changes nothing
  }

 private:
  void unmap() noexcept {
    if (address_ != nullptr) ::munmap(address_, size_);
    address_ = nullptr;
    size_ = 0;
  }

  // Built by appending: GCC 12 warns falsely (-Wrestrict, bug 105329) on "'" + string.
  std::string quoted_path() const {
    std::string out(1, '\'');
    out += path_.string();
    out += '\'';
    return out;
  }

  // What failed, and the system's reason (an errno value) when there is one. The reason is
  // an argument because building the message may itself change errno.
  [[noreturn]] static void fail(int reason, const std::string& what) {
    std::string message = "mapped_file: " + what;
    if (reason != 0) message += std::string(": ") + std::strerror(reason);
    throw io_error(message);
  }

  std::filesystem::path path_;
  void* address_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace ranklens::io
