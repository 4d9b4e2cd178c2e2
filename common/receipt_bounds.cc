#include "common/receipt_bounds.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/crypto/encoding.h"
#include "google/protobuf/io/coded_stream.h"
#include "warden/v1/results.pb.h"

namespace warden {
namespace {

// base64 (RFC 4648 §4, padded): 4 characters per 3 bytes.
std::size_t rawBytesWithin(std::size_t base64_bytes) { return base64_bytes / 4 * 3; }

// Wire bytes of one element of a repeated message field: tag (field numbers below 16: one byte),
// length, body.
std::size_t entryBytes(const google::protobuf::MessageLite& m) {
  const std::size_t n = m.ByteSizeLong();
  return 1 + google::protobuf::io::CodedOutputStream::VarintSize64(n) + n;
}

// Room for one uint64 count: tag and the longest varint.
constexpr std::size_t kCountBytes = 1 + 10;

// Cuts host strings, counting what it cut.
struct StringCutter {
  std::size_t max;
  std::size_t& cut;
  void operator()(std::string* s) const {
    if (s->size() <= max) return;
    *s = boundString(*s, max);
    ++cut;
  }
};

void cutProcess(v1::ProcessInfo& p, const StringCutter& cut) {
  cut(p.mutable_tty());
  cut(p.mutable_exe());
  cut(p.mutable_exe_sha256());
  cut(p.mutable_cmdline());
  cut(p.mutable_unread());
  cut(p.mutable_user());
}

// Keeps the longest prefix of `list` that fits `budget` (which it reduces); returns how many
// entries it left out.
template <typename T>
std::uint64_t keepWithin(google::protobuf::RepeatedPtrField<T>* list, std::size_t& budget) {
  int keep = 0;
  while (keep < list->size()) {
    const std::size_t n = entryBytes(list->Get(keep));
    if (n > budget) break;
    budget -= n;
    ++keep;
  }
  const int left_out = list->size() - keep;
  if (left_out > 0) list->DeleteSubrange(keep, left_out);
  return static_cast<std::uint64_t>(left_out);
}

// The bytes of `m` without the entries of `lists` and with room for `counts` counters: what is
// left for the entries is the budget minus this.
template <typename T>
std::size_t bytesBesides(const google::protobuf::MessageLite& m,
                         const std::vector<const google::protobuf::RepeatedPtrField<T>*>& lists,
                         std::size_t counts) {
  std::size_t total = m.ByteSizeLong() + counts * kCountBytes;
  for (const auto* list : lists) {
    for (const auto& e : *list) total -= entryBytes(e);
  }
  return total;
}

// Each result kind: cut its strings, then its lists (in the order given: the first keeps the
// most), counting the rest. False when `raw` does not parse as the kind's message.
bool boundKillReport(std::string& raw, std::size_t budget, const StringCutter& cut,
                     std::size_t& unlisted) {
  v1::KillReport r;
  if (!r.ParseFromString(raw)) return false;
  for (auto& p : *r.mutable_survivors()) cutProcess(p, cut);
  for (auto& p : *r.mutable_processes()) cutProcess(p, cut);
  if (r.ByteSizeLong() > budget) {
    const std::size_t fixed = bytesBesides<v1::ProcessInfo>(r, {&r.survivors(), &r.processes()}, 2);
    std::size_t room = budget > fixed ? budget - fixed : 0;
    // Survivors first: they are what the operator still has to deal with.
    const std::uint64_t survivors = keepWithin(r.mutable_survivors(), room);
    const std::uint64_t processes = keepWithin(r.mutable_processes(), room);
    r.set_unlisted_survivors(r.unlisted_survivors() + survivors);
    r.set_unlisted_processes(r.unlisted_processes() + processes);
    unlisted += survivors + processes;
  }
  raw = r.SerializeAsString();
  return true;
}

bool boundSessionList(std::string& raw, std::size_t budget, const StringCutter& cut,
                      std::size_t& unlisted) {
  v1::SessionList r;
  if (!r.ParseFromString(raw)) return false;
  for (auto& s : *r.mutable_sessions()) {
    cut(s.mutable_id());
    cut(s.mutable_user());
    cut(s.mutable_tty());
    cut(s.mutable_remote());
  }
  if (r.ByteSizeLong() > budget) {
    const std::size_t fixed = bytesBesides<v1::LoginSession>(r, {&r.sessions()}, 1);
    std::size_t room = budget > fixed ? budget - fixed : 0;
    const std::uint64_t sessions = keepWithin(r.mutable_sessions(), room);
    r.set_unlisted_sessions(r.unlisted_sessions() + sessions);
    unlisted += sessions;
  }
  raw = r.SerializeAsString();
  return true;
}

bool boundAccountReport(std::string& raw, std::size_t budget, const StringCutter& cut,
                        std::size_t& unlisted) {
  v1::AccountReport r;
  if (!r.ParseFromString(raw)) return false;
  for (auto& c : *r.mutable_changes()) {
    cut(c.mutable_user());
    cut(c.mutable_action());
    cut(c.mutable_old_line_sha256());
    cut(c.mutable_new_line_sha256());
  }
  if (r.ByteSizeLong() > budget) {
    const std::size_t fixed = bytesBesides<v1::AccountChange>(r, {&r.changes()}, 1);
    std::size_t room = budget > fixed ? budget - fixed : 0;
    const std::uint64_t changes = keepWithin(r.mutable_changes(), room);
    r.set_unlisted_changes(r.unlisted_changes() + changes);
    unlisted += changes;
  }
  raw = r.SerializeAsString();
  return true;
}

bool boundSshKeyReport(std::string& raw, std::size_t budget, const StringCutter& cut,
                       std::size_t& unlisted) {
  v1::SshKeyReport r;
  if (!r.ParseFromString(raw)) return false;
  for (auto& k : *r.mutable_keys()) {
    for (std::string* s :
         {k.mutable_user(), k.mutable_file(), k.mutable_type(), k.mutable_fingerprint(),
          k.mutable_comment(), k.mutable_options(), k.mutable_action()}) {
      cut(s);
    }
  }
  for (auto& f : *r.mutable_files()) {
    for (std::string* s : {f.mutable_path(), f.mutable_user(), f.mutable_action()}) cut(s);
  }
  for (auto& w : *r.mutable_warnings()) cut(&w);
  if (r.ByteSizeLong() > budget) {
    // Keys are left out first: the files still say where they were and what changed.
    const std::size_t fixed = bytesBesides<v1::SshKey>(r, {&r.keys()}, 1);
    std::size_t room = budget > fixed ? budget - fixed : 0;
    const std::uint64_t keys = keepWithin(r.mutable_keys(), room);
    r.set_unlisted_keys(r.unlisted_keys() + keys);
    unlisted += keys;
  }
  if (r.ByteSizeLong() > budget) {
    const std::size_t fixed = bytesBesides<v1::SshKeyFile>(r, {&r.files()}, 1);
    std::size_t room = budget > fixed ? budget - fixed : 0;
    const std::uint64_t files = keepWithin(r.mutable_files(), room);
    r.set_unlisted_files(r.unlisted_files() + files);
    unlisted += files;
  }
  raw = r.SerializeAsString();
  return true;
}

using ResultBounder = bool (*)(std::string&, std::size_t, const StringCutter&, std::size_t&);

// Which result message each receipt kind carries (proto/warden/v1/results.proto).
ResultBounder resultBounderFor(const std::string& kind) {
  if (kind == "kill-sessions") return &boundKillReport;
  if (kind == "sessions") return &boundSessionList;
  if (kind == "lock-accounts" || kind == "unlock-accounts") return &boundAccountReport;
  if (kind == "revoke-keys" || kind == "restore-keys") return &boundSshKeyReport;
  return nullptr;
}

// Bounds details["result"]. A result left exactly as it was keeps its bytes.
void boundResult(Receipt& r, const ReceiptLimits& limits, ReceiptTrim& trim) {
  auto it = r.details.find(kReceiptResultDetail);
  if (it == r.details.end()) return;
  const ResultBounder bounder = resultBounderFor(r.kind);
  auto raw = crypto::unbase64(it->second);
  if (bounder != nullptr && raw.ok()) {
    std::size_t cut = 0, unlisted = 0;
    std::string bytes = *raw;
    if (bounder(bytes, rawBytesWithin(limits.result_bytes),
                StringCutter{limits.host_string_bytes, cut}, unlisted)) {
      if (cut + unlisted > 0) it->second = crypto::base64(bytes);
      trim.strings_cut += cut;
      trim.entries_unlisted += unlisted;
      if (it->second.size() <= limits.result_bytes) return;
    }
  }
  // Not a result this code can cut (or one that still does not fit): it goes whole, and the
  // receipt says so.
  if (it->second.size() > limits.result_bytes) {
    r.details.erase(it);
    ++trim.details_dropped;
  }
}

}  // namespace

std::string boundString(const std::string& s, std::size_t max) {
  if (s.size() <= max) return s;
  const std::string marker = absl::StrCat(kTruncationMarker, s.size(), " bytes]");
  if (marker.size() >= max) return s.substr(0, max);
  std::size_t keep = max - marker.size();
  // Never split a UTF-8 sequence: back up over continuation bytes (10xxxxxx).
  while (keep > 0 && (static_cast<unsigned char>(s[keep]) & 0xC0) == 0x80) --keep;
  return s.substr(0, keep) + marker;
}

ReceiptTrim boundReceipt(Receipt& r, const ReceiptLimits& limits) {
  ReceiptTrim trim;
  trim.bytes_before = encodeReceipt(r).size();
  trim.bytes_after = trim.bytes_before;
  const bool result_fits = [&] {
    auto it = r.details.find(kReceiptResultDetail);
    return it == r.details.end() || it->second.size() <= limits.result_bytes;
  }();
  // Small receipts pass untouched; a result past its bound is cut even inside a receipt that
  // would fit, so the result's bound holds on its own.
  if (trim.bytes_before <= limits.receipt_bytes && result_fits &&
      r.message.size() <= limits.text_bytes &&
      std::all_of(r.details.begin(), r.details.end(), [&](const auto& kv) {
        return kv.first == kReceiptResultDetail || kv.second.size() <= limits.text_bytes;
      })) {
    return trim;
  }
  boundResult(r, limits, trim);
  StringCutter cut{limits.text_bytes, trim.strings_cut};
  cut(&r.message);
  for (auto& [key, value] : r.details) {
    if (key != kReceiptResultDetail) cut(&value);
  }
  // The last resort (very many details): whole details go, the largest first.
  if (trim.details_dropped > 0)
    r.details[kDroppedDetailsDetail] = absl::StrCat(trim.details_dropped);
  // Each removal lowers the size by at least its key and value; re-encoded to confirm only once
  // the estimate fits.
  std::size_t size = encodeReceipt(r).size();
  while (size > limits.receipt_bytes) {
    auto largest = r.details.end();
    for (auto it = r.details.begin(); it != r.details.end(); ++it) {
      if (it->first == kDroppedDetailsDetail) continue;
      if (largest == r.details.end() || it->second.size() > largest->second.size()) largest = it;
    }
    if (largest == r.details.end()) break;
    size -= std::min(size, largest->first.size() + largest->second.size());
    r.details.erase(largest);
    ++trim.details_dropped;
    r.details[kDroppedDetailsDetail] = absl::StrCat(trim.details_dropped);
    if (size <= limits.receipt_bytes) size = encodeReceipt(r).size();
  }
  trim.bytes_after = encodeReceipt(r).size();
  return trim;
}

}  // namespace warden
