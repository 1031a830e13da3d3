using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Freeside.Tests.Infrastructure;

namespace Freeside.Tests.Common;

public sealed class BadInputTests(FreesideApp app) : IClassFixture<FreesideApp>
{
    private async Task<JsonElement> ShouldBeProblemAsync(HttpResponseMessage response, HttpStatusCode status)
    {
        response.StatusCode.ShouldBe(status);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json");
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        problem.GetProperty("status").GetInt32().ShouldBe((int)status);
        return problem;
    }

    [Fact]
    public async Task Post_MalformedJson_Is400NamingTheProblem()
    {
        var response = await app.CreateAdminClient().PostAsync("/api/v1/admin/communities",
            new StringContent("{\"slug\": \"x\", ", Encoding.UTF8, "application/json"));

        var problem = await ShouldBeProblemAsync(response, HttpStatusCode.BadRequest);
        problem.GetProperty("detail").GetString()!.ShouldContain("JSON");
    }

    [Fact]
    public async Task Post_WrongJsonType_Is400NamingThePath()
    {
        var response = await app.CreateAdminClient().PostAsync("/api/v1/admin/communities",
            new StringContent("{\"slug\":\"x\",\"chain_id\":\"one\"}", Encoding.UTF8, "application/json"));

        var problem = await ShouldBeProblemAsync(response, HttpStatusCode.BadRequest);
        problem.GetProperty("detail").GetString()!.ShouldContain("chain_id");
    }

    [Fact]
    public async Task Post_WrongContentType_Is415()
    {
        var response = await app.CreateAdminClient().PostAsync("/api/v1/admin/communities",
            new StringContent("slug=x", Encoding.UTF8, "application/x-www-form-urlencoded"));

        await ShouldBeProblemAsync(response, HttpStatusCode.UnsupportedMediaType);
    }

    [Fact]
    public async Task Post_OversizedBody_Is413()
    {
        var big = "{\"slug\":\"" + new string('a', 1024 * 1024 + 10) + "\"}";
        var response = await app.CreateAdminClient().PostAsync("/api/v1/admin/communities", new StringContent(big, Encoding.UTF8, "application/json"));

        await ShouldBeProblemAsync(response, HttpStatusCode.RequestEntityTooLarge);
        (await app.Database.ScalarAsync<long>("SELECT count(*) FROM communities")).ShouldBe(0);
    }

    [Fact]
    public async Task Get_UnknownRoute_Is404Problem()
    {
        await ShouldBeProblemAsync(await app.CreateClient().GetAsync("/api/v1/no-such-thing"), HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Delete_KnownRouteWrongMethod_Is405Problem()
    {
        await ShouldBeProblemAsync(await app.CreateClient().DeleteAsync("/api/v1/communities/demo"), HttpStatusCode.MethodNotAllowed);
    }

    [Fact]
    public async Task Get_Metrics_OnPublicListener_Is404()
    {
        (await app.CreateClient().GetAsync("/metrics")).StatusCode.ShouldBe(HttpStatusCode.NotFound);
    }
}
