// controller/cli/pages.h and render.h JsonListWriter: a list fetched a page at a time reads, with
// --json, exactly as the one answer it used to be (protobuf's own layout, byte for byte), and the
// walk over the pages follows the tokens, stops when told, and cannot be sent round in a circle.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "controller/cli/pages.h"
#include "controller/cli/render.h"

namespace warden::cli {
namespace {

v1::Action sampleAction(int i) {
  v1::Action a;
  a.set_id("a-" + std::to_string(i));
  a.set_host_id("host-42");
  a.set_kind("kill-sessions");
  a.set_state("succeeded");
  a.set_created_unix_ms(1700000000000 + i);
  a.set_message("Killed 3 processes \"quoted\"\nsecond line <tag> caf\xc3\xa9");
  // One detail: protobuf prints a map's entries in no fixed order.
  if (i % 2 == 0) (*a.mutable_details())["result"] = std::string(300, 'Q');
  a.set_log_index(i);
  return a;
}

// What JsonListWriter wrote for `items`.
std::string written(const std::vector<v1::Action>& items) {
  char* buf = nullptr;
  std::size_t size = 0;
  std::FILE* f = open_memstream(&buf, &size);
  {
    JsonListWriter w("actions", f);
    for (const auto& a : items) w.add(a);
    w.finish();
  }
  std::fclose(f);
  std::string out(buf, size);
  std::free(buf);
  return out;
}

// The document the CLI printed when one answer held the whole list: protobuf's printer on the
// response, which had no next_page_token field then.
std::string oneAnswer(const std::vector<v1::Action>& items) {
  v1::ListActionsResponse resp;
  for (const auto& a : items) *resp.add_actions() = a;
  std::string json = toJson(resp);
  const std::string token = ",\n \"next_page_token\": \"\"";
  const auto at = json.find(token);
  EXPECT_NE(at, std::string::npos) << json;
  if (at != std::string::npos) json.erase(at, token.size());
  return json + "\n";
}

TEST(JsonListWriter, WritesWhatProtobufPrintsForTheWholeList) {
  for (int n : {0, 1, 2, 5}) {
    std::vector<v1::Action> items;
    for (int i = 0; i < n; ++i) items.push_back(sampleAction(i));
    EXPECT_EQ(written(items), oneAnswer(items)) << n << " items";
  }
}

TEST(JsonListWriter, TheDocumentParses) {
  v1::Action two = sampleAction(2);
  (*two.mutable_details())["backend"] = "nftables";
  const std::string doc = written({sampleAction(1), two});
  auto j = parseJson(doc, "list");
  ASSERT_TRUE(j.ok()) << j.status();
  ASSERT_EQ((*j)["actions"].size(), 2u);
  EXPECT_EQ((*j)["actions"][1]["details"]["backend"], "nftables");
  EXPECT_FALSE(j->contains("next_page_token"));
}

// `warden hosts --json`: the fields a response has besides its list follow the list, as
// protobuf prints them; the list is not repeated (empty) and the page token not written.
TEST(JsonListWriter, TheTrailerCarriesTheOtherFieldsOnce) {
  v1::ListHostsResponse resp;
  v1::Host h;
  h.set_host_id("host-42");
  h.set_connected(true);
  *resp.add_hosts() = h;
  resp.set_next_page_token("t1");
  resp.set_ca_not_after_unix_ms(1800000000000);
  resp.set_controller_cert_not_after_unix_ms(1700000000000);
  auto* w = resp.add_warnings();
  w->set_subject("ca");
  w->set_message("the CA expires in 12 days");
  auto* w2 = resp.add_warnings();
  w2->set_subject("controller");
  w2->set_message("the controller's certificate expires in 3 days");
  char* buf = nullptr;
  std::size_t size = 0;
  std::FILE* f = open_memstream(&buf, &size);
  {
    JsonListWriter writer("hosts", f);
    for (const auto& host : resp.hosts()) writer.add(host);
    v1::ListHostsResponse top = resp;
    top.clear_hosts();
    top.clear_next_page_token();
    writer.trailer(top);
    writer.finish();
  }
  std::fclose(f);
  const std::string doc(buf, size);
  std::free(buf);
  auto j = parseJson(doc, "hosts");
  ASSERT_TRUE(j.ok()) << j.status() << doc;
  ASSERT_EQ((*j)["hosts"].size(), 1u) << doc;
  EXPECT_EQ((*j)["hosts"][0]["host_id"], "host-42");
  EXPECT_EQ((*j)["ca_not_after_unix_ms"], "1800000000000");
  ASSERT_EQ((*j)["warnings"].size(), 2u) << doc;
  EXPECT_EQ((*j)["warnings"][1]["subject"], "controller");
  EXPECT_FALSE(j->contains("next_page_token")) << doc;
  // The same document as protobuf's for the whole answer, but for the page token.
  v1::ListHostsResponse whole = resp;
  whole.clear_next_page_token();
  auto expected = parseJson(toJson(whole), "whole");
  ASSERT_TRUE(expected.ok());
  expected->erase("next_page_token");
  EXPECT_EQ(*j, *expected) << doc;
}

// A controller that serves `items` `per_page` at a time, tokens "t1", "t2", ...
struct FakeList {
  explicit FakeList(std::vector<std::string> v) : items(std::move(v)) {}
  std::vector<std::string> items;
  std::size_t per_page = 2;
  std::vector<std::string> tokens_seen;

  grpc::Status operator()(const v1::ListHostsRequest& req, v1::ListHostsResponse* resp) {
    tokens_seen.push_back(req.page_token());
    std::size_t from = 0;
    if (!req.page_token().empty()) from = std::stoul(req.page_token().substr(1)) * per_page;
    for (std::size_t i = from; i < items.size() && i < from + per_page; ++i) {
      resp->add_hosts()->set_host_id(items[i]);
    }
    if (from + per_page < items.size()) {
      resp->set_next_page_token("t" + std::to_string(from / per_page + 1));
    }
    return grpc::Status::OK;
  }
};

TEST(ForEachPage, FollowsTheTokensToTheEnd) {
  FakeList list({"h1", "h2", "h3", "h4", "h5"});
  std::vector<std::string> got;
  auto s = forEachPage<v1::ListHostsRequest, v1::ListHostsResponse>(
      v1::ListHostsRequest(), std::ref(list), [&](const v1::ListHostsResponse& page) {
        for (const auto& h : page.hosts()) got.push_back(h.host_id());
        return true;
      });
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(got, list.items);
  EXPECT_EQ(list.tokens_seen, (std::vector<std::string>{"", "t1", "t2"}));
}

TEST(ForEachPage, StopsWhenThePageSaysEnough) {
  FakeList list({"h1", "h2", "h3", "h4", "h5"});
  int pages = 0;
  auto s = forEachPage<v1::ListHostsRequest, v1::ListHostsResponse>(
      v1::ListHostsRequest(), std::ref(list),
      [&](const v1::ListHostsResponse&) { return ++pages < 2; });
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(list.tokens_seen.size(), 2u);
}

TEST(ForEachPage, AFailedPageEndsTheWalkWithItsStatus) {
  int calls = 0;
  auto failing = [&](const v1::ListHostsRequest&, v1::ListHostsResponse* resp) {
    if (++calls == 2) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad page_token");
    resp->set_next_page_token("t" + std::to_string(calls));
    return grpc::Status::OK;
  };
  auto s = forEachPage<v1::ListHostsRequest, v1::ListHostsResponse>(
      v1::ListHostsRequest(), failing, [](const v1::ListHostsResponse&) { return true; });
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(calls, 2);
}

TEST(ForEachPage, ATokenSentTwiceEndsTheWalk) {
  int calls = 0;
  auto circular = [&](const v1::ListHostsRequest&, v1::ListHostsResponse* resp) {
    ++calls;
    resp->set_next_page_token(calls % 2 == 0 ? "a" : "b");
    return grpc::Status::OK;
  };
  auto s = forEachPage<v1::ListHostsRequest, v1::ListHostsResponse>(
      v1::ListHostsRequest(), circular, [](const v1::ListHostsResponse&) { return true; });
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(calls, 3) << "b, a, then b again";
}

}  // namespace
}  // namespace warden::cli
