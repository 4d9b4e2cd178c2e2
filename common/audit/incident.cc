#include "common/audit/incident.h"

#include <algorithm>
#include <array>
#include <cstdlib>

#include "absl/strings/str_format.h"

namespace warden {
namespace {

// Colours, stones, light and weather, calm qualities. Nothing here describes harm, speed of
// attack, secrecy or a person.
constexpr std::array kAdjectives = {
    "amber",   "azure",   "beige",  "blue",     "bright",  "bronze", "calm",     "cedar",
    "cloudy",  "copper",  "coral",  "cozy",     "crimson", "crisp",  "dappled",  "dewy",
    "dusky",   "emerald", "fern",   "foggy",    "frosty",  "gentle", "gilded",   "golden",
    "grassy",  "hazel",   "honey",  "indigo",   "ivory",   "jade",   "lavender", "leafy",
    "lilac",   "linen",   "lucky",  "lunar",    "maple",   "mellow", "minty",    "misty",
    "mossy",   "navy",    "ochre",  "olive",    "opal",    "pastel", "peach",    "pearl",
    "pine",    "plum",    "polar",  "quiet",    "rainy",   "rosy",   "ruby",     "russet",
    "saffron", "sage",    "sandy",  "sapphire", "scarlet", "silver", "snowy",    "solar",
    "spring",  "starry",  "sunny",  "tawny",    "teal",    "topaz",  "tranquil", "tulip",
    "velvet",  "verdant", "violet", "warm",     "wavy",    "windy",  "wintry",   "woolly",
};

// Gentle animals, plants and everyday things.
constexpr std::array kNouns = {
    "acorn",   "albatross", "alpaca",  "anchor",  "apricot", "aster",    "badger",   "bamboo",
    "beacon",  "birch",     "bison",   "blossom", "bramble", "breeze",   "brook",    "butter",
    "canyon",  "cardinal",  "clover",  "comet",   "cricket", "daisy",    "dolphin",  "dove",
    "dune",    "falcon",    "feather", "fjord",   "fox",     "gazelle",  "glacier",  "harbor",
    "heron",   "hickory",   "horizon", "ibis",    "iris",    "kestrel",  "kite",     "koala",
    "lagoon",  "lantern",   "lark",    "lemur",   "lotus",   "lynx",     "magnolia", "marble",
    "meadow",  "mesa",      "moose",   "nectar",  "nutmeg",  "oak",      "orchid",   "otter",
    "owl",     "panda",     "parrot",  "pebble",  "pelican", "penguin",  "pepper",   "poppy",
    "prairie", "puffin",    "quail",   "quartz",  "raven",   "reef",     "ribbon",   "robin",
    "sequoia", "sparrow",   "spruce",  "teapot",  "thistle", "tortoise", "tundra",   "unicorn",
    "walrus",  "willow",    "wren",    "yak",
};

bool lowerHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

// "key=value" arguments, each key at most once and only those `allowed`.
absl::StatusOr<std::vector<std::pair<std::string, std::string>>> keyValues(
    const Request& r, std::initializer_list<std::string_view> allowed) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& a : r.args) {
    const auto eq = a.find('=');
    const std::string key = a.substr(0, eq);
    const bool known = std::find(allowed.begin(), allowed.end(), key) != allowed.end();
    const bool repeated =
        std::any_of(out.begin(), out.end(), [&](const auto& kv) { return kv.first == key; });
    if (eq == std::string::npos || !known || repeated) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "bad %s argument '%s'", r.kind, a.substr(0, std::min<std::size_t>(a.size(), 40))));
    }
    out.emplace_back(key, a.substr(eq + 1));
  }
  return out;
}

}  // namespace

bool isIncidentKind(std::string_view kind) {
  return kind == kIncidentOpenKind || kind == kIncidentCloseKind || kind == kIncidentNoteKind;
}

bool validIncidentId(std::string_view id) {
  return id.size() == 18 && id.starts_with("i-") && std::all_of(id.begin() + 2, id.end(), lowerHex);
}

absl::Status validCodename(std::string_view codename) {
  bool ok = codename.size() >= 3 && codename.size() <= 40 && codename.front() != '-' &&
            codename.back() != '-' && codename.find("--") == std::string_view::npos;
  for (char c : codename) ok = ok && ((c >= 'a' && c <= 'z') || c == '-');
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "invalid codename '%s': lower-case words joined by '-', 3 to 40 characters (e.g. "
        "sapphire-unicorn)",
        codename.substr(0, 60)));
  }
  return absl::OkStatus();
}

absl::StatusOr<IncidentChange> incidentChangeOf(const Request& r) {
  if (!isIncidentKind(r.kind)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("request kind '%s' is not an incident change", r.kind));
  }
  if (!r.hosts.empty() || r.all_hosts || !r.allow.empty() || !r.addresses.empty() ||
      !r.incident.empty()) {
    return absl::InvalidArgumentError("an incident change names no hosts, addresses or incident");
  }
  IncidentChange c;
  c.kind = r.kind;
  const bool open = r.kind == kIncidentOpenKind, note = r.kind == kIncidentNoteKind;
  auto kv = open   ? keyValues(r, {"id", "codename", "severity", "summary"})
            : note ? keyValues(r, {"id", "text"})
                   : keyValues(r, {"id"});
  if (!kv.ok()) return kv.status();
  bool has_severity = false;
  for (auto& [key, value] : *kv) {
    if (key == "id") {
      c.id = std::move(value);
    } else if (key == "codename") {
      c.codename = std::move(value);
    } else if (key == "severity") {
      has_severity = value.size() == 1 && value[0] >= '1' && value[0] <= '5';
      if (!has_severity) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "invalid severity '%s' (1, the most severe, to 5)", value.substr(0, 8)));
      }
      c.severity = value[0] - '0';
    } else if (key == "summary") {
      c.summary = std::move(value);
    } else {
      c.text = std::move(value);
    }
  }
  if (!validIncidentId(c.id)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("invalid incident id '%s'", c.id.substr(0, 40)));
  }
  if (open) {
    if (auto s = validCodename(c.codename); !s.ok()) return s;
    if (!has_severity) return absl::InvalidArgumentError("an incident needs a severity (1..5)");
    if (c.summary.size() > kMaxIncidentSummary) {
      return absl::InvalidArgumentError("the summary is too long (4096 bytes at most)");
    }
  }
  if (note && (c.text.empty() || c.text.size() > kMaxIncidentNote)) {
    return absl::InvalidArgumentError("a note needs text (16384 bytes at most)");
  }
  return c;
}

std::vector<std::string> incidentChangeArgs(const IncidentChange& c) {
  std::vector<std::string> args = {"id=" + c.id};
  if (c.kind == kIncidentOpenKind) {
    args.push_back("codename=" + c.codename);
    args.push_back(absl::StrFormat("severity=%d", c.severity));
    if (!c.summary.empty()) args.push_back("summary=" + c.summary);
  }
  if (c.kind == kIncidentNoteKind) args.push_back("text=" + c.text);
  return args;
}

std::string codenameFrom(std::string_view random) {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < 4 && i < random.size(); ++i) {
    v = (v << 8) | static_cast<unsigned char>(random[i]);
  }
  const std::size_t a = v % kAdjectives.size();
  const std::size_t n = (v / kAdjectives.size()) % kNouns.size();
  return std::string(kAdjectives[a]) + "-" + kNouns[n];
}

std::size_t codenameCount() { return kAdjectives.size() * kNouns.size(); }

}  // namespace warden
