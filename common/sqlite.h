// A thin RAII layer over SQLite for the controller's registry and the agent's state.
// Every call returns absl::Status with SQLite's own message.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "absl/status/statusor.h"

struct sqlite3;
struct sqlite3_stmt;

namespace warden {

class Database;

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
  Statement(sqlite3* db, sqlite3_stmt* stmt, Database* owner, std::string sql)
      : db_(db), stmt_(stmt), owner_(owner), sql_(std::move(sql)) {}
  sqlite3* db_;
  sqlite3_stmt* stmt_;
  Database* owner_;  // takes the compiled statement back when this one ends
  std::string sql_;
  absl::Status bind_error_;
};

class Database {
 public:
  // How a commit reaches the disk: kFull syncs the WAL at every commit; kNormal only at
  // checkpoints (in WAL mode a process crash loses nothing, a power loss may lose the last
  // commits), for a store rebuilt from something durable elsewhere.
  enum class Sync { kFull, kNormal };
  // Opens (creating if needed) with WAL, the given sync mode and a busy timeout.
  static absl::StatusOr<std::unique_ptr<Database>> open(const std::string& path,
                                                        Sync sync = Sync::kFull);
  ~Database();
  absl::Status exec(std::string_view sql);
  // A statement for `sql`. Compiled statements are kept when a Statement ends (reset, bindings
  // cleared) and handed out again for the same text: compiling costs more than most queries.
  absl::StatusOr<Statement> prepare(std::string_view sql);
  std::int64_t changes() const;

 private:
  friend class Statement;
  static constexpr std::size_t kMaxKeptStatements = 256;
  explicit Database(sqlite3* db) : db_(db) {}
  void keep(std::string sql, sqlite3_stmt* stmt);
  sqlite3* db_;
  std::mutex kept_mu_;
  std::unordered_map<std::string, sqlite3_stmt*> kept_;  // idle compiled statements, by text
};

}  // namespace warden
