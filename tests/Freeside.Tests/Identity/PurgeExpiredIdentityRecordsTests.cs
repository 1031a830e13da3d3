using Freeside.Features.Identity;
using Freeside.Tests.Infrastructure;

namespace Freeside.Tests.Identity;

public sealed class PurgeExpiredIdentityRecordsTests(FreesideApp app) : IClassFixture<FreesideApp>
{
    [Fact]
    public async Task Purge_NonceExpiredAMinuteAgo_IsDeletedAndLiveOnesStay()
    {
        var expired = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray());
        var live = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray());
        await app.Database.ExecuteAsync($"""
            INSERT INTO siwe_nonces (nonce, issued_at, expires_at, cached_in_redis) VALUES
                ('{expired}', now() - interval '6 minutes', now() - interval '1 minute', false),
                ('{live}', now(), now() + interval '5 minutes', false)
            """);

        // Hourly job: a nonce is gone within an hour of expiring, not a day later.
        (await app.SendAsync(new PurgeExpiredIdentityRecords.Command())).IsSuccess.ShouldBeTrue();

        (await app.Database.ScalarAsync<long>("SELECT count(*) FROM siwe_nonces WHERE nonce = @n", ("n", expired))).ShouldBe(0);
        (await app.Database.ScalarAsync<long>("SELECT count(*) FROM siwe_nonces WHERE nonce = @n", ("n", live))).ShouldBe(1);
    }

    [Fact]
    public void Schedule_RunsEveryHour() =>
        PurgeExpiredIdentityRecordsJob.Schedule.Split(' ')[2].ShouldBe("*", "the hours field: every hour");
}
