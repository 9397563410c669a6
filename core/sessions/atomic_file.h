#pragma once
// Crash-safe file replacement: write a temporary file beside the target, fsync it, rename it over
// the target, fsync the directory. A reader (or a process killed at any instant) sees either the
// old file or the new one, never a torn mix.
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace skv {

void write_file_atomic(const std::filesystem::path& path, std::string_view bytes);
void write_file_atomic(const std::filesystem::path& path, const std::vector<uint8_t>& bytes);
// Whole file; throws skv::Error naming the path when it cannot be read.
std::vector<uint8_t> read_file_bytes(const std::filesystem::path& path);
std::string read_file_text(const std::filesystem::path& path);
// mkdir -p, then fsync the parent so the new directory entry survives a crash.
void make_directories_durable(const std::filesystem::path& dir);

}  // namespace skv
