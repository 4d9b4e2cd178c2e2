// controller/registry.h listActionsPage and listHostsPage: the pages the operator API's list
// RPCs serve. Paged in a stable order, every row comes exactly once, including when rows are
// added between pages; a page holds no more than its count and its bytes (its first row
// always); the newest N start where they should; receipts stay out of lists that do not show
// them.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "controller/registry.h"
#include "tests/unit/scratch_registry.h"

namespace warden::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;

class RegistryPagesTest : public RegistryTest {
 protected:
  void addActions(const std::string& prefix, const std::string& host, int n) {
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE(
          reg_->addAction(action(absl::StrFormat("%s%02d", prefix, i), host, nowUnixMs() + kHour))
              .ok());
      added_.push_back(absl::StrFormat("%s%02d", prefix, i));
    }
  }

  // Pages through every action as the operator API does, calling `between` after each page.
  std::vector<std::string> pageThrough(ActionPageQuery q, int* pages,
                                       const std::function<void(int)>& between = nullptr) {
    std::vector<std::string> out;
    *pages = 0;
    for (int guard = 0; guard < 1000; ++guard) {
      auto page = reg_->listActionsPage(q);
      EXPECT_TRUE(page.ok()) << page.status();
      if (!page.ok()) break;
      ++*pages;
      EXPECT_LE(static_cast<int>(page->rows.size()), q.max_rows);
      for (const ActionRow& r : page->rows) {
        EXPECT_GT(r.seq, q.after_seq) << "each page starts after the one before";
        q.after_seq = r.seq;
        out.push_back(r.action.id);
      }
      if (!page->more) break;
      EXPECT_FALSE(page->rows.empty()) << "a page with more after it is never empty";
      if (between) between(*pages);
    }
    return out;
  }

  std::vector<std::string> added_;
};

TEST_F(RegistryPagesTest, ActionsComeOncePerPageInTheOrderTheyWereAdded) {
  addActions("a", "host-a", 13);
  addActions("b", "host-b", 12);
  ActionPageQuery q;
  q.max_rows = 10;
  int pages = 0;
  EXPECT_THAT(pageThrough(q, &pages), ElementsAreArray(added_));
  EXPECT_EQ(pages, 3);

  // Exactly a page's worth: the last page says so, no empty page after it.
  q.max_rows = 25;
  EXPECT_THAT(pageThrough(q, &pages), ElementsAreArray(added_));
  EXPECT_EQ(pages, 1);

  q.max_rows = 1;
  EXPECT_THAT(pageThrough(q, &pages), ElementsAreArray(added_));
  EXPECT_EQ(pages, 25);
}

TEST_F(RegistryPagesTest, ActionsAddedBetweenPagesComeAtTheEndNeitherTwiceNorMissed) {
  addActions("a", "host-a", 7);
  ActionPageQuery q;
  q.max_rows = 3;
  int pages = 0;
  int round = 0;
  const std::vector<std::string> got = pageThrough(q, &pages, [&](int) {
    // Between pages, commands keep being dispatched: to this host and to others.
    ++round;
    addActions(absl::StrFormat("n%d-", round), round % 2 == 0 ? "host-a" : "host-b", 2);
  });
  EXPECT_THAT(got, ElementsAreArray(added_)) << "every row once, in order, the new ones too";
  EXPECT_EQ(std::set<std::string>(got.begin(), got.end()).size(), got.size());
}

TEST_F(RegistryPagesTest, AHostsActionsPageOnTheirOwn) {
  addActions("a", "host-a", 4);
  addActions("b", "host-b", 4);
  addActions("c", "host-a", 4);
  ActionPageQuery q;
  q.host_id = "host-a";
  q.max_rows = 3;
  int pages = 0;
  EXPECT_THAT(pageThrough(q, &pages),
              ElementsAre("a00", "a01", "a02", "a03", "c00", "c01", "c02", "c03"));
  EXPECT_EQ(pages, 3);
  q.host_id = "host-z";
  EXPECT_TRUE(pageThrough(q, &pages).empty());
  EXPECT_EQ(pages, 1);
}

TEST_F(RegistryPagesTest, TheNewestNStartTheListAndLaterPagesFollowOn) {
  addActions("a", "host-a", 10);
  addActions("b", "host-b", 3);
  ActionPageQuery q;
  q.newest = 4;
  q.max_rows = 3;
  int pages = 0;
  EXPECT_THAT(pageThrough(q, &pages), ElementsAre("a09", "b00", "b01", "b02"));

  // Of one host.
  q.host_id = "host-a";
  EXPECT_THAT(pageThrough(q, &pages), ElementsAre("a06", "a07", "a08", "a09"));

  // Fewer than N: all of them.
  q.newest = 50;
  q.host_id = "host-b";
  EXPECT_THAT(pageThrough(q, &pages), ElementsAre("b00", "b01", "b02"));

  // Actions added while paging do not move where the list started (the CLI stops after N).
  q.host_id = "";
  q.newest = 4;
  const std::vector<std::string> got =
      pageThrough(q, &pages, [&](int) { addActions("late", "host-a", 1); });
  ASSERT_GE(got.size(), 4u);
  EXPECT_THAT(std::vector<std::string>(got.begin(), got.begin() + 4),
              ElementsAre("a09", "b00", "b01", "b02"));
}

TEST_F(RegistryPagesTest, APageHoldsNoMoreThanItsBytesButAlwaysItsFirstRow) {
  // Receipts of 600 KiB (a big kill's): three fit 2 MiB, a fourth would not.
  addActions("k", "host-a", 7);
  for (int i = 0; i < 7; ++i) {
    const std::string receipt(600 << 10, static_cast<char>('0' + i));
    ASSERT_TRUE(*reg_->finishAction(absl::StrFormat("k%02d", i), "succeeded", "killed", receipt,
                                    std::string(64, 's'), nowUnixMs()));
  }
  ActionPageQuery q;
  q.max_rows = 100;
  auto first = reg_->listActionsPage(q);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->rows.size(), 3u);
  EXPECT_TRUE(first->more);
  EXPECT_EQ(first->rows[0].action.receipt.size(), 600u << 10);
  EXPECT_TRUE(first->rows[0].has_receipt);
  int pages = 0;
  EXPECT_THAT(pageThrough(q, &pages), ElementsAreArray(added_));
  EXPECT_EQ(pages, 3);

  // A row larger than the whole budget goes alone.
  q.max_bytes = 100 << 10;
  EXPECT_THAT(pageThrough(q, &pages), ElementsAreArray(added_));
  EXPECT_EQ(pages, 7);

  // Without receipts, the same rows are small: one page, and each still says it has one.
  q.max_bytes = kMaxPageBytes;
  q.with_receipts = false;
  auto basic = reg_->listActionsPage(q);
  ASSERT_TRUE(basic.ok()) << basic.status();
  EXPECT_EQ(basic->rows.size(), 7u);
  EXPECT_FALSE(basic->more);
  for (const ActionRow& r : basic->rows) {
    EXPECT_TRUE(r.has_receipt) << r.action.id;
    EXPECT_TRUE(r.action.receipt.empty()) << r.action.id;
    EXPECT_TRUE(r.action.receipt_signature.empty()) << r.action.id;
    EXPECT_EQ(r.action.message, "killed");
    EXPECT_EQ(r.action.state, "succeeded");
  }
  addActions("q", "host-a", 1);
  auto queued = reg_->listActionsPage(q);
  ASSERT_TRUE(queued.ok());
  EXPECT_FALSE(queued->rows.back().has_receipt) << "a queued action has none yet";
}

TEST_F(RegistryPagesTest, HostsPageInOrderOfIdOncePerPage) {
  std::vector<std::string> want;
  for (int i = 0; i < 23; ++i) {
    want.push_back(absl::StrFormat("host-%03d", i * 2));
    ASSERT_TRUE(reg_->addHost(host(want.back()), false).ok());
  }
  auto pageHosts = [&](int size, const std::function<void()>& between) {
    std::vector<std::string> out;
    std::string after;
    for (int guard = 0; guard < 1000; ++guard) {
      auto page = reg_->listHostsPage(after, size);
      EXPECT_TRUE(page.ok()) << page.status();
      if (!page.ok()) break;
      EXPECT_LE(static_cast<int>(page->rows.size()), size);
      for (const HostRecord& h : page->rows) {
        EXPECT_GT(h.host_id, after);
        after = h.host_id;
        out.push_back(h.host_id);
      }
      if (!page->more) break;
      if (between) between();
    }
    return out;
  };
  EXPECT_THAT(pageHosts(10, nullptr), ElementsAreArray(want));
  EXPECT_THAT(pageHosts(23, nullptr), ElementsAreArray(want));
  EXPECT_THAT(pageHosts(1000, nullptr), ElementsAreArray(want));

  // Hosts that enroll while a list is paged: those after the page come, those before it do
  // not (they were not there when their place went by); none twice, none of the others missed.
  // A host enrolled again (a new identity) keeps its place.
  int round = 0;
  std::vector<std::string> ahead, behind;
  const std::vector<std::string> got = pageHosts(5, [&] {
    ++round;
    behind.push_back(absl::StrFormat("host-%03d", 2 * round - 1));  // the pages are past it
    ahead.push_back(absl::StrFormat("host-%03d", 100 + round));
    ASSERT_TRUE(reg_->addHost(host(behind.back()), false).ok());
    ASSERT_TRUE(reg_->addHost(host(ahead.back()), false).ok());
    ASSERT_TRUE(reg_->addHost(host("host-000"), true).ok());
  });
  EXPECT_EQ(round, 5) << "hosts kept enrolling ahead of the pages";
  std::set<std::string> unique(got.begin(), got.end());
  EXPECT_EQ(unique.size(), got.size()) << "no host twice";
  for (const std::string& h : want) EXPECT_TRUE(unique.contains(h)) << h << " missed";
  for (const std::string& h : ahead) EXPECT_TRUE(unique.contains(h)) << h << " missed";
  for (const std::string& h : behind) EXPECT_FALSE(unique.contains(h)) << h;
  EXPECT_TRUE(std::is_sorted(got.begin(), got.end()));
}

TEST_F(RegistryPagesTest, HostsPageByBytesToo) {
  for (int i = 0; i < 5; ++i) {
    HostRecord h = host(absl::StrFormat("host-%d", i));
    ASSERT_TRUE(reg_->addHost(h, false).ok());
    v1::Facts f;
    f.set_hostname(h.host_id);
    for (int a = 0; a < 100; ++a) f.add_addresses(absl::StrFormat("198.18.%d.%d/32", i, a));
    ASSERT_TRUE(reg_->updateHostSeen(h.host_id, "198.18.0.1:1", &f).ok());
  }
  auto all = reg_->listHostsPage("", 1000);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->rows.size(), 5u);
  EXPECT_FALSE(all->more);
  EXPECT_EQ(all->rows[2].facts.addresses_size(), 100);
  // A budget smaller than one host: a host a page.
  std::string after;
  for (int i = 0; i < 5; ++i) {
    auto page = reg_->listHostsPage(after, 1000, 1);
    ASSERT_TRUE(page.ok()) << page.status();
    ASSERT_EQ(page->rows.size(), 1u);
    EXPECT_EQ(page->more, i < 4);
    after = page->rows[0].host_id;
  }
}

// A host whose agent reports megabytes of facts is stored (and listed) within bounds, so it
// cannot make the hosts list fail for the whole fleet.
TEST_F(RegistryPagesTest, AHostsFactsAreBoundedBeforeTheyAreStored) {
  ASSERT_TRUE(reg_->addHost(host("host-big"), false).ok());
  v1::Facts f;
  f.set_hostname(std::string(1 << 20, 'h'));
  f.set_kernel(std::string(3000, 'k'));
  for (int a = 0; a < 100000; ++a)
    f.add_addresses(absl::StrFormat("10.%d.%d.1/32", a / 256, a % 256));
  f.set_isolated(true);
  f.set_blocked_count(7);
  ASSERT_GT(f.ByteSizeLong(), std::size_t{2} << 20);
  ASSERT_TRUE(reg_->updateHostSeen("host-big", "198.18.0.9:1", &f).ok());
  auto found = reg_->findHost("host-big");
  ASSERT_TRUE(found.ok());
  EXPECT_LT(found->facts.ByteSizeLong(), std::size_t{64} << 10);
  EXPECT_LE(found->facts.hostname().size(), 256u);
  EXPECT_NE(found->facts.hostname().find("[truncated: 1048576 bytes]"), std::string::npos);
  EXPECT_EQ(found->facts.addresses_size(), 512);
  EXPECT_EQ(found->facts.addresses(0), "10.0.0.1/32") << "the first are kept";
  EXPECT_TRUE(found->facts.isolated());
  EXPECT_EQ(found->facts.blocked_count(), 7u);
}

}  // namespace
}  // namespace warden::testing
