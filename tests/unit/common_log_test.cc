// common/log.h: a daemon's log line quotes host text (argv, utmp, receipt messages) escaped and
// bounded, so a host cannot forge a line, drive the reader's terminal or flood the journal.
#include <gtest/gtest.h>

#include <string>

#include "common/log.h"

namespace warden::testing {
namespace {

TEST(EscapeLogText, PlainTextAndUtf8PassUnchanged) {
  EXPECT_EQ(escapeLogText("host-42: isolate a-1: isolated (nftables)"),
            "host-42: isolate a-1: isolated (nftables)");
  EXPECT_EQ(escapeLogText("café ✓ 日本"), "café ✓ 日本");
  EXPECT_EQ(escapeLogText(""), "");
}

TEST(EscapeLogText, NewlinesCannotForgeALine) {
  EXPECT_EQ(escapeLogText("ok\n2026-12-02T00:00:00.000Z info all clear"),
            "ok\\x0a2026-12-02T00:00:00.000Z info all clear");
  EXPECT_EQ(escapeLogText("a\rb\tc"), "a\\x0db\\x09c");
}

TEST(EscapeLogText, TerminalControlsBidiAndBadBytesAreEscaped) {
  EXPECT_EQ(escapeLogText("\x1b[2Jgone"), "\\x1b[2Jgone");
  EXPECT_EQ(escapeLogText("\x7f"), "\\x7f");
  EXPECT_EQ(escapeLogText("\xc2\x9b"
                          "31m"),
            "\\xc2\\x9b31m");  // C1 CSI
  EXPECT_EQ(escapeLogText("evil\xe2\x80\xaetxt.exe"), "evil\\xe2\\x80\\xaetxt.exe");
  EXPECT_EQ(escapeLogText("\xff\xfe"), "\\xff\\xfe");
  EXPECT_EQ(escapeLogText(std::string("nul\0byte", 8)), "nul\\x00byte");
  // A backslash is doubled, so "\x41" typed by a host reads back as typed, not as "A".
  EXPECT_EQ(escapeLogText("\\x41"), "\\\\x41");
}

TEST(EscapeLogText, LongTextIsCutWithACount) {
  const std::string big(100000, 'a');
  const std::string out = escapeLogText(big, 1000);
  EXPECT_EQ(out, std::string(1000, 'a') + "... (99000 more bytes)");
  const std::string controls(5000, '\n');
  const std::string escaped = escapeLogText(controls, 1000);
  EXPECT_LE(escaped.size(), 1100u);
  EXPECT_NE(escaped.find("more bytes)"), std::string::npos);
}

}  // namespace
}  // namespace warden::testing
