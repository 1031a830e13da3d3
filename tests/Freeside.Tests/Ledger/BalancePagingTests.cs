using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Freeside.Tests.Infrastructure;

namespace Freeside.Tests.Ledger;

/// <summary>Issue 8 item 6: the balance totals every lot but lists them a page at a time.</summary>
public sealed class BalancePagingTests(FreesideApp app) : IClassFixture<FreesideApp>
{
    [Fact]
    public async Task Balance_MoreLotsThanLimit_PagesThroughEveryLotOnceWithFullTotals()
    {
        var (slug, _) = await app.FundedCommunityAsync(1);
        for (var i = 2; i <= 5; i++)
        {
            await app.GrantAsync(slug, i);
        }

        using var client = app.CreateAdminClient();
        var seen = new List<string>();
        string? cursor = null;
        var pages = 0;
        do
        {
            var page = await client.GetFromJsonAsync<JsonElement>($"/api/v1/communities/{slug}/balance?limit=2" + (cursor is null ? "" : "&cursor=" + Uri.EscapeDataString(cursor)));
            page.GetProperty("available_micro").GetInt64().ShouldBe(15);
            page.GetProperty("lot_count").GetInt64().ShouldBe(5);
            page.GetProperty("lots").GetArrayLength().ShouldBeLessThanOrEqualTo(2);
            seen.AddRange(page.GetProperty("lots").EnumerateArray().Select(l => l.GetProperty("id").GetString()!));
            cursor = page.GetProperty("next_cursor").ValueKind == JsonValueKind.Null ? null : page.GetProperty("next_cursor").GetString();
            pages++;
        }
        while (cursor is not null && pages < 10);

        pages.ShouldBe(3);
        seen.Count.ShouldBe(5);
        seen.ShouldBeUnique();
    }

    [Fact]
    public async Task Balance_NoLimit_ListsAtMostTheDefaultPage()
    {
        var (slug, _) = await app.FundedCommunityAsync(1);
        for (var i = 0; i < 55; i++)
        {
            await app.GrantAsync(slug, 1);
        }

        var page = await app.CreateAdminClient().GetFromJsonAsync<JsonElement>($"/api/v1/communities/{slug}/balance");

        page.GetProperty("lots").GetArrayLength().ShouldBe(50);
        page.GetProperty("lot_count").GetInt64().ShouldBe(56);
        page.GetProperty("available_micro").GetInt64().ShouldBe(56);
        page.GetProperty("next_cursor").GetString().ShouldNotBeNullOrEmpty();
    }

    [Theory]
    [InlineData("limit=101", "limit")]
    [InlineData("limit=0", "limit")]
    [InlineData("limit=abc", "limit")]
    [InlineData("cursor=not-a-cursor", "cursor")]
    [InlineData("cursor=Y29tbXVuaXR5LWFkbWluc3x4", "cursor")]
    public async Task Balance_BadPageParameter_Is400NamingIt(string query, string field)
    {
        var (slug, _) = await app.FundedCommunityAsync(1);

        var response = await app.CreateAdminClient().GetAsync($"/api/v1/communities/{slug}/balance?{query}");

        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("errors").TryGetProperty(field, out _).ShouldBeTrue();
    }
}
