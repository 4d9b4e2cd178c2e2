// controller/cli/render.h printable(): host text on the operator's terminal shows as itself,
// except what could rewrite the screen (controls, C1, bidi overrides, bytes not UTF-8): '?'.
#include <gtest/gtest.h>

#include <string>

#include "controller/cli/render.h"

namespace warden::cli {
namespace {

TEST(Printable, HostTextShowsAsItselfAndControlsAsQuestionMarks) {
  EXPECT_EQ(printable("host-42 café ✓"), "host-42 café ✓");
  EXPECT_EQ(printable("a\x1b[2Jb"), "a?[2Jb");
  EXPECT_EQ(printable("line\nnext\t\x7f"), "line?next??");
  EXPECT_EQ(printable("\xc2\x9b"
                      "31m"),
            "??31m");                                         // C1 CSI, byte by byte
  EXPECT_EQ(printable("evil\xe2\x80\xaetxt"), "evil???txt");  // bidi override
  EXPECT_EQ(printable("\xff"), "?");
  EXPECT_EQ(printable(std::string("a\0b", 3)), "a?b");
}

}  // namespace
}  // namespace warden::cli
