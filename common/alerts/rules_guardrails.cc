#include "common/alerts/rules_guardrails.h"

#include <cstdint>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/alerts/rules_yaml.h"
#include "common/net.h"

namespace warden {
namespace {

using rules_yaml::errorAt;
using rules_yaml::inQuotes;
using rules_yaml::itemPath;
using rules_yaml::StrictMap;

// A host id as enrollment accepts it (controller/authz.cc validHostId; common cannot include the
// controller): a letter or digit, then letters, digits, '.', '-', '_', at most 63 bytes.
bool validHostId(std::string_view h) {
  if (h.empty() || h.size() > 63 || !absl::ascii_isalnum(static_cast<unsigned char>(h[0]))) {
    return false;
  }
  for (char c : h) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_') {
      return false;
    }
  }
  return true;
}

// Each duration and count of the section: where it goes in Guardrails (policy as data).
struct DurationKey {
  const char* key;
  std::int64_t Guardrails::*field;
};
struct CountKey {
  const char* key;
  std::uint32_t Guardrails::*field;
};
constexpr DurationKey kDurations[] = {
    {"window", &Guardrails::window_ms},
    {"cooldown", &Guardrails::cooldown_ms},
    {"dedupe", &Guardrails::dedupe_ms},
    {"max_alert_age", &Guardrails::max_alert_age_ms},
    {"approval_ttl", &Guardrails::approval_ttl_ms},
};
constexpr CountKey kCounts[] = {
    {"max_isolations", &Guardrails::max_isolations},
    {"max_hosts_per_alert", &Guardrails::max_hosts_per_alert},
    {"max_blocks", &Guardrails::max_blocks},
};

// The scheme, then an authority with no user:password@ (the rules text is in the action log,
// for every auditor to read), then anything printable.
absl::Status checkNotifyUrl(const YAML::Node& node, const std::string& path,
                            const std::string& url) {
  if (url.size() > kMaxNotifyUrlBytes) {
    return errorAt(node.Mark(), path, absl::StrFormat("longer than %d bytes", kMaxNotifyUrlBytes));
  }
  constexpr char kScheme[] = "https://";
  if (!absl::StartsWithIgnoreCase(url, kScheme)) {
    return errorAt(node.Mark(), path,
                   absl::StrCat(inQuotes(url), " is not an https:// URL (only https is allowed)"));
  }
  for (char c : url) {
    if (c <= ' ' || c == 0x7f || static_cast<unsigned char>(c) >= 0x80) {
      return errorAt(
          node.Mark(), path,
          absl::StrCat(inQuotes(url), " has a space or a character that is not printable ASCII"));
    }
  }
  const std::string_view rest = std::string_view(url).substr(sizeof(kScheme) - 1);
  const std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (authority.empty()) return errorAt(node.Mark(), path, inQuotes(url) + " has no host");
  if (authority.find('@') != std::string_view::npos) {
    return errorAt(node.Mark(), path,
                   "credentials in the URL would be written to the action log; the webhook is "
                   "authenticated by its signature");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Guardrails> parseGuardrails(const YAML::Node& node) {
  auto map = StrictMap::read(node, "guardrails");
  if (!map.ok()) return map.status();
  if (auto st = map->checkKeys({"window", "max_isolations", "max_hosts_per_alert", "max_blocks",
                                "cooldown", "dedupe", "max_alert_age", "approval_ttl",
                                "protected_hosts", "never_block"});
      !st.ok()) {
    return st;
  }
  Guardrails g;
  for (const DurationKey& d : kDurations) {
    if (const YAML::Node* v = map->find(d.key)) {
      auto ms = rules_yaml::readDurationMs(*v, map->pathOf(d.key));
      if (!ms.ok()) return ms.status();
      g.*d.field = *ms;
    }
  }
  for (const CountKey& c : kCounts) {
    if (const YAML::Node* v = map->find(c.key)) {
      auto n = rules_yaml::readCount(*v, map->pathOf(c.key));
      if (!n.ok()) return n.status();
      g.*c.field = *n;
    }
  }
  if (const YAML::Node* v = map->find("protected_hosts")) {
    const std::string path = map->pathOf("protected_hosts");
    auto items = rules_yaml::readList(*v, path, kMaxProtectedHosts);
    if (!items.ok()) return items.status();
    std::set<std::string> seen;
    for (std::size_t i = 0; i < items->size(); ++i) {
      const YAML::Node& item = (*items)[i];
      auto host = rules_yaml::readString(item, itemPath(path, i));
      if (!host.ok()) return host.status();
      if (!validHostId(*host)) {
        return errorAt(item.Mark(), itemPath(path, i),
                       absl::StrCat(inQuotes(*host),
                                    " is not a host id (a letter or digit, then letters, digits, "
                                    ". - _; at most 63)"));
      }
      if (!seen.insert(*host).second) {
        return errorAt(item.Mark(), itemPath(path, i), inQuotes(*host) + " is listed twice");
      }
      g.protected_hosts.push_back(*host);
    }
  }
  if (const YAML::Node* v = map->find("never_block")) {
    const std::string path = map->pathOf("never_block");
    auto items = rules_yaml::readList(*v, path, kMaxNeverBlock);
    if (!items.ok()) return items.status();
    std::set<std::string> seen;
    for (std::size_t i = 0; i < items->size(); ++i) {
      const YAML::Node& item = (*items)[i];
      auto text = rules_yaml::readString(item, itemPath(path, i));
      if (!text.ok()) return text.status();
      auto prefix = IpPrefix::parse(*text);
      if (!prefix.ok()) {
        return errorAt(
            item.Mark(), itemPath(path, i),
            absl::StrCat("bad address or CIDR ", inQuotes(*text), ": ", prefix.status().message()));
      }
      std::string canonical = prefix->toString();
      if (!seen.insert(canonical).second) {
        return errorAt(item.Mark(), itemPath(path, i), inQuotes(canonical) + " is listed twice");
      }
      g.never_block.push_back(std::move(canonical));
    }
  }
  return g;
}

absl::StatusOr<std::vector<NotifyTarget>> parseNotify(const YAML::Node& node) {
  std::vector<NotifyTarget> out;
  if (node.IsNull()) return out;
  auto items = rules_yaml::readList(node, "notify", kMaxNotifyTargets);
  if (!items.ok()) return items.status();
  std::set<std::string> seen;
  for (std::size_t i = 0; i < items->size(); ++i) {
    const std::string path = itemPath("notify", i);
    auto map = StrictMap::read((*items)[i], path);
    if (!map.ok()) return map.status();
    if (auto st = map->checkKeys({"url"}); !st.ok()) return st;
    const YAML::Node* url_node = map->find("url");
    if (url_node == nullptr) return errorAt(map->mark(), path, "url is required");
    auto url = rules_yaml::readString(*url_node, map->pathOf("url"));
    if (!url.ok()) return url.status();
    if (auto st = checkNotifyUrl(*url_node, map->pathOf("url"), *url); !st.ok()) return st;
    if (!seen.insert(*url).second) {
      return errorAt(url_node->Mark(), map->pathOf("url"), inQuotes(*url) + " is listed twice");
    }
    out.push_back(NotifyTarget{*url});
  }
  return out;
}

}  // namespace warden
