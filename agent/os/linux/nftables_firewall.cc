// Firewall on libnftables: the whole of Warden's table is replaced by one script, which
// libnftables commits as a single netlink batch (one transaction: all or nothing).
#include <dirent.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <net/if.h>
#include <nftables/libnftables.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "agent/firewall_rules.h"
#include "agent/nft_table_shape.h"
#include "agent/os/firewall.h"
#include "agent/os/linux/firewall_linux.h"
#include "common/crypto/encoding.h"
#include "common/crypto/hash.h"
#include "common/unique_fd.h"

namespace warden::linux_os {
namespace {

// libnftables keeps some process-wide state (interface cache, parser initialisation), so
// contexts are never used concurrently.
std::mutex& nftMutex() {
  static std::mutex mu;
  return mu;
}

std::string sha256Hex(const std::string& data) { return crypto::hex(crypto::sha256(data)); }

std::string trimmed(const char* buf) {
  std::string s = buf ? buf : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

using NftContext = std::unique_ptr<nft_ctx, void (*)(nft_ctx*)>;

// Sets FD_CLOEXEC on every NETLINK_NETFILTER socket of the process.
void closeOnExecNetfilterSockets() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return;
  const int self = ::dirfd(dir);
  while (dirent* e = ::readdir(dir)) {
    int fd = -1;
    if (!absl::SimpleAtoi(e->d_name, &fd) || fd == self) continue;
    int domain = 0, protocol = 0;
    socklen_t len = sizeof(domain);
    if (::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0 || domain != AF_NETLINK) {
      continue;
    }
    len = sizeof(protocol);
    if (::getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &protocol, &len) == 0 &&
        protocol == NETLINK_NETFILTER) {
      const int flags = ::fcntl(fd, F_GETFD);
      if (flags >= 0) (void)::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
    }
  }
  ::closedir(dir);
}

// A context and the namespace its netlink socket talks to. Holding the namespace open keeps
// its inode number from being reused by a newer namespace while the context is cached.
struct CachedContext {
  NftContext ctx{nullptr, nft_ctx_free};
  UniqueFd netns_fd;
};

// One context per network namespace (netns is per thread), kept open. Closing the netlink
// socket of a context that changed the ruleset costs the kernel about 10 ms (measured on the
// test fleet), which would otherwise be paid on every isolate and release.
absl::StatusOr<nft_ctx*> contextForCallingThread() {
  static auto* contexts = new std::map<ino_t, std::unique_ptr<CachedContext>>();
  UniqueFd fd(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  struct stat st;
  if (!fd.ok() || ::fstat(fd.get(), &st) != 0) {
    const int err = errno;
    return absl::UnavailableError(
        absl::StrCat("Failed to open this thread's network namespace: ", std::strerror(err)));
  }
  auto it = contexts->find(st.st_ino);
  if (it != contexts->end()) return it->second->ctx.get();
  auto entry = std::make_unique<CachedContext>();
  entry->netns_fd = std::move(fd);
  entry->ctx.reset(nft_ctx_new(NFT_CTX_DEFAULT));
  if (!entry->ctx) {
    return absl::UnavailableError(
        absl::StrCat("Failed to create nftables context: ", std::strerror(errno)));
  }
  // The context's netlink socket owns the owned table: no child may inherit it, whatever
  // libnftables opened it with.
  closeOnExecNetfilterSockets();
  if (nft_ctx_buffer_output(entry->ctx.get()) != 0 || nft_ctx_buffer_error(entry->ctx.get()) != 0) {
    return absl::InternalError("Failed to buffer nftables output");
  }
  // Stateless output (nft -s) leaves counters out, so listings of the same rules hash the same.
  nft_ctx_output_set_flags(entry->ctx.get(), NFT_CTX_OUTPUT_STATELESS);
  // Bound the cache (tests make many namespaces; the agent lives in one).
  if (contexts->size() >= 16) contexts->clear();
  return contexts->emplace(st.st_ino, std::move(entry)).first->second->ctx.get();
}

// Runs one nft command or script in the calling thread's network namespace.
absl::StatusOr<std::string> runNft(const std::string& commands) {
  std::lock_guard<std::mutex> lock(nftMutex());
  auto ctx = contextForCallingThread();
  if (!ctx.ok()) return ctx.status();
  errno = 0;
  const int rc = nft_run_cmd_from_buffer(*ctx, commands.c_str());
  const int err_no = errno;
  // Reading a buffer resets it (libnftables(3)); read both so nothing carries over.
  std::string err = trimmed(nft_ctx_get_error_buffer(*ctx));
  const char* out = nft_ctx_get_output_buffer(*ctx);
  if (rc != 0) {
    if (err.empty()) err = err_no ? std::strerror(err_no) : "unknown error";
    return absl::InternalError(err);
  }
  return std::string(out ? out : "");
}

// The calling thread's network interfaces (its network namespace), for the netdev chains.
std::vector<std::string> interfaceNames() {
  std::vector<std::string> names;
  if (struct if_nameindex* list = if_nameindex()) {
    for (struct if_nameindex* i = list; i->if_index != 0 && i->if_name != nullptr; ++i) {
      names.emplace_back(i->if_name);
    }
    if_freenameindex(list);
  }
  return names;
}

std::vector<std::string> interfaceWarnings(const ContainmentState& state,
                                           const std::vector<std::string>& names) {
  std::vector<std::string> warnings;
  if (!state.isolation) return warnings;
  for (const std::string& name : names) {
    if (!nftSafeInterfaceName(name)) {
      warnings.push_back(absl::StrCat("interface ", absl::CHexEscape(name),
                                      " has a name nftables cannot be given; raw sockets on it "
                                      "are not stopped"));
    }
  }
  return warnings;
}

class NftablesFirewall : public Firewall {
 public:
  explicit NftablesFirewall(NftablesOptions options) : options_(options) {}
  std::string backend() const override { return "nftables"; }

  absl::StatusOr<FirewallReport> apply(const ContainmentState& state) override {
    FirewallReport report;
    report.backend = backend();
    auto prior = rulesetDigest();
    if (!prior.ok()) return prior.status();
    report.prior_digest = *prior;
    const std::vector<std::string> interfaces = interfaceNames();
    report.warnings = interfaceWarnings(state, interfaces);
    bool owned = options_.owned_table;
    report.applied = buildNftScript(state, interfaces, owned);
    absl::StatusOr<std::string> run = runNft(report.applied);
    if (!run.ok() && owned) {
      // An old kernel (no table owner flag), or a table of that name owned by someone else:
      // the plain table alone still isolates, and says what it could not do.
      report.warnings.push_back(absl::StrCat("no owned copy of the rules (", kNftOwnedTable,
                                             "): ", run.status().message(),
                                             "; `nft flush ruleset` would open a gap of up "
                                             "to a second until the agent re-applies"));
      owned = false;
      report.applied = buildNftScript(state, interfaces, false);
      run = runNft(report.applied);
    }
    if (!run.ok()) {
      return absl::Status(run.status().code(),
                          absl::StrCat("nftables rejected table inet ", kNftTable,
                                       " update: ", run.status().message()));
    }
    auto listing = checkInstalled(report.applied);
    if (!listing.ok()) {
      return absl::Status(listing.status().code(), absl::StrCat("Read-back after applying failed: ",
                                                                listing.status().message()));
    }
    report.installed_digest = sha256Hex(*listing);
    std::lock_guard<std::mutex> lock(mu_);
    installed_ = Installed{state, report.installed_digest, owned};
    return report;
  }

  absl::Status verify(const ContainmentState& state) override {
    auto listing = listInstalled(state);
    if (!listing.ok()) return listing.status();
    // The comment check cannot see a rule edited in place with its comment kept; the exact
    // listing recorded by the last apply of the same state can.
    std::lock_guard<std::mutex> lock(mu_);
    if (installed_ && installed_->state == state && installed_->digest != sha256Hex(*listing)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "table inet ", kNftTable, " was modified since it was applied (listing digest ",
          sha256Hex(*listing), ", applied ", installed_->digest, ")"));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> installedDigest(const ContainmentState& state) override {
    auto listing = listInstalled(state);
    if (!listing.ok()) return listing.status();
    return sha256Hex(*listing);
  }

  absl::StatusOr<std::string> rulesetDigest() override {
    auto listing = runNft("list ruleset");
    if (!listing.ok()) {
      return absl::Status(listing.status().code(), absl::StrCat("Failed to list nftables ruleset: ",
                                                                listing.status().message()));
    }
    return sha256Hex(*listing);
  }

 private:
  struct Installed {
    ContainmentState state;
    std::string digest;
    bool owned = false;  // the owned copy was installed with it
  };

  // Warden's tables as checkInstalled() reads them for `state`, with or without the owned
  // copy as the last apply of that state installed it.
  absl::StatusOr<std::string> listInstalled(const ContainmentState& state) {
    bool owned = options_.owned_table;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (installed_ && installed_->state == state) owned = installed_->owned;
    }
    return checkInstalled(buildNftScript(state, interfaceNames(), owned));
  }

  // Reads Warden's tables back and checks them against `script`; returns the listing (empty
  // when the state is empty and the tables are absent, as they must be).
  absl::StatusOr<std::string> checkInstalled(const std::string& script) {
    auto tables = runNft("list tables");
    if (!tables.ok()) {
      return absl::Status(tables.status().code(), absl::StrCat("Failed to list nftables tables: ",
                                                               tables.status().message()));
    }
    std::string listing;
    for (const std::string name : {kNftTable, kNftOwnedTable}) {
      for (const std::string family : {"inet", "netdev"}) {
        const std::string table = absl::StrCat("table ", family, " ", name);
        // Only the tables the script resets are Warden's to check.
        if (!absl::StrContains(script, absl::StrCat("add ", table, "\n")) &&
            !absl::StrContains(script, absl::StrCat("add ", table, " {"))) {
          continue;
        }
        const bool wanted = absl::StrContains(script, absl::StrCat("\n", table, " {\n"));
        bool present = false;
        for (absl::string_view line : absl::StrSplit(*tables, '\n')) {
          if (absl::StripAsciiWhitespace(line) == table) present = true;
        }
        if (!wanted) {
          if (present) {
            return absl::FailedPreconditionError(
                absl::StrCat(table, " is present but should not be"));
          }
          continue;
        }
        auto one = runNft(absl::StrCat("list ", table));
        if (!one.ok()) {
          return absl::FailedPreconditionError(
              absl::StrCat(table, " cannot be read: ", one.status().message()));
        }
        if (auto st = compareShapes(script, *one, family, name); !st.ok()) return st;
        absl::StrAppend(&listing, *one);
      }
    }
    return listing;
  }

  const NftablesOptions options_;
  std::mutex mu_;
  std::optional<Installed> installed_;
};

}  // namespace

absl::Status probeNftables() {
  auto tables = runNft("list tables");
  if (!tables.ok()) {
    return absl::Status(tables.status().code(),
                        absl::StrCat("nftables is not usable: ", tables.status().message()));
  }
  return absl::OkStatus();
}

std::unique_ptr<Firewall> makeNftablesFirewall(NftablesOptions options) {
  return std::make_unique<NftablesFirewall>(options);
}

}  // namespace warden::linux_os
