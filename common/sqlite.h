// A thin RAII layer over SQLite for the controller's registry and the agent's state.
// Every call returns absl::Status with SQLite's own message.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

struct sqlite3;
struct sqlite3_stmt;

namespace warden {

class Statement {
 public:
  Statement(Statement&&) noexcept;
  Statement& operator=(Statement&&) = delete;
  ~Statement();
  Statement& bind(int index, std::string_view text);
  Statement& bindBlob(int index, std::string_view blob);
  Statement& bind(int index, std::int64_t v);
  Statement& bindNull(int index);
  // True while a row is available; false when done.
  absl::StatusOr<bool> step();
  // Runs to completion (for statements without results).
  absl::Status run();
  std::string text(int col) const;
  std::int64_t integer(int col) const;
  bool isNull(int col) const;

 private:
  friend class Database;
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  sqlite3* db_;
  sqlite3_stmt* stmt_;
  absl::Status bind_error_;
};

class Database {
 public:
  // Opens (creating if needed) with WAL, synchronous=FULL and a busy timeout.
  static absl::StatusOr<std::unique_ptr<Database>> open(const std::string& path);
  ~Database();
  absl::Status exec(std::string_view sql);
  absl::StatusOr<Statement> prepare(std::string_view sql);
  std::int64_t changes() const;

 private:
  explicit Database(sqlite3* db) : db_(db) {}
  sqlite3* db_;
};

}  // namespace warden
