using System.Collections.Concurrent;
using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
using Freeside.Features.Communities;
using Freeside.Tests.Infrastructure;
using MediatR;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Freeside.Tests.Common.Mediation;

public sealed class PipelineApp : FreesideApp
{
    protected override void ConfigureServices(IServiceCollection services)
    {
        services.AddFreesideMediation(typeof(PipelineApp).Assembly);
        services.AddScoped<IConservationCheck, FailingCheck>();
    }
}

/// <summary>Breaks on purpose whenever the touched account is <see cref="PipelineTests.PoisonedAccount"/>.</summary>
public sealed class FailingCheck : IConservationCheck
{
    public Task<IReadOnlyList<InvariantViolation>> CheckAsync(IReadOnlyCollection<Guid> accountIds, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<InvariantViolation>>(accountIds.Contains(PipelineTests.PoisonedAccount)
            ? [new InvariantViolation("T1", PipelineTests.PoisonedAccount, "deliberately broken")]
            : []);
}

public static class WriteCommunity
{
    public sealed record Command(string Slug, Guid Account, bool FailAfterWrite) : ICommand<Unit>, IMovesCredits;

    public sealed class Validator : AbstractValidator<Command>
    {
        public Validator() => RuleFor(c => c.Slug).NotEmpty().MaximumLength(20);
    }

    internal sealed class Handler(FreesideDb db, TouchedAccounts touched) : IRequestHandler<Command, Result<Unit>>
    {
        public Task<Result<Unit>> Handle(Command request, CancellationToken cancellationToken)
        {
            db.Add(new Community
            {
                Id = Guid.NewGuid(),
                Slug = request.Slug,
                Name = request.Slug,
                ChainId = 1,
                CollectionAddress = "0x" + new string('1', 40),
                CreatedAt = DateTimeOffset.UtcNow,
            });
            touched.Add(request.Account);
            return Task.FromResult<Result<Unit>>(request.FailAfterWrite
                ? new AlreadyExists("thing", "failing on purpose after a write")
                : Unit.Value);
        }
    }
}

/// <summary>Fails its first run with the failure named, then succeeds; counts its runs.</summary>
public static class FailOnce
{
    public static readonly ConcurrentDictionary<Guid, int> Runs = new();

    public sealed record Command(Guid Id, string Failure) : ICommand<Unit>;

    public sealed class Validator : AbstractValidator<Command>
    {
        public Validator() => RuleFor(c => c.Failure).NotEmpty();
    }

    internal sealed class Handler : IRequestHandler<Command, Result<Unit>>
    {
        public Task<Result<Unit>> Handle(Command request, CancellationToken cancellationToken)
        {
            if (Runs.AddOrUpdate(request.Id, 1, (_, runs) => runs + 1) == 1)
            {
                throw request.Failure == "deadlock"
                    ? new PostgresException("deadlock detected", "ERROR", "ERROR", PostgresErrorCodes.DeadlockDetected)
                    : new NpgsqlException("Exception while reading from stream", new EndOfStreamException());
            }

            return Task.FromResult<Result<Unit>>(Unit.Value);
        }
    }
}

/// <summary>Writes a community and announces it; the announcement records whether the row was visible to another connection.</summary>
public static class AnnounceCommunity
{
    public static readonly ConcurrentDictionary<string, bool> Seen = new();

    public sealed record Command(string Slug, bool Fail) : ICommand<Unit>;

    public sealed record Announced(string Slug) : INotification;

    public sealed class Validator : AbstractValidator<Command>;

    internal sealed class Handler(FreesideDb db, CommitNotifications notifications) : IRequestHandler<Command, Result<Unit>>
    {
        public Task<Result<Unit>> Handle(Command request, CancellationToken cancellationToken)
        {
            db.Add(new Community
            {
                Id = Guid.NewGuid(), Slug = request.Slug, Name = request.Slug, ChainId = 1,
                CollectionAddress = "0x" + new string('2', 40), CreatedAt = DateTimeOffset.UtcNow,
            });
            notifications.Add(new Announced(request.Slug));
            return Task.FromResult<Result<Unit>>(request.Fail ? new AlreadyExists("thing", "failing on purpose after announcing") : Unit.Value);
        }
    }

    internal sealed class Listener(FreesideDb db) : INotificationHandler<Announced>
    {
        public async Task Handle(Announced notification, CancellationToken cancellationToken)
        {
            await using var other = new NpgsqlConnection(db.Database.GetConnectionString());
            await other.OpenAsync(cancellationToken);
            await using var command = new NpgsqlCommand("SELECT count(*) FROM communities WHERE slug = @s", other);
            command.Parameters.AddWithValue("s", notification.Slug);
            Seen[notification.Slug] = (long)(await command.ExecuteScalarAsync(cancellationToken))! == 1;
        }
    }
}

public sealed class PipelineTests(PipelineApp app) : IClassFixture<PipelineApp>
{
    [Fact]
    public async Task CommitNotification_CommandSucceeds_PublishedAfterTheCommit()
    {
        (await app.SendAsync(new AnnounceCommunity.Command("announced-ok", Fail: false))).IsSuccess.ShouldBeTrue();

        AnnounceCommunity.Seen["announced-ok"].ShouldBeTrue();
    }

    [Fact]
    public async Task CommitNotification_CommandFails_NeverPublished()
    {
        (await app.SendAsync(new AnnounceCommunity.Command("announced-no", Fail: true))).IsSuccess.ShouldBeFalse();

        AnnounceCommunity.Seen.ContainsKey("announced-no").ShouldBeFalse();
    }

    [Fact]
    public async Task Command_DeadlockVictim_RunsAgainAndSucceeds()
    {
        var id = Guid.NewGuid();

        (await app.SendAsync(new FailOnce.Command(id, "deadlock"))).IsSuccess.ShouldBeTrue();

        FailOnce.Runs[id].ShouldBe(2);
    }

    [Fact]
    public async Task Command_ConnectionLost_IsNotRunAgain()
    {
        // The commit may have happened before the connection dropped: running a money command again
        // could book it twice, so the failure goes to the caller (a 503) after exactly one run.
        var id = Guid.NewGuid();

        var failure = await Should.ThrowAsync<Exception>(() => app.SendAsync(new FailOnce.Command(id, "connection")));

        FailOnce.Runs[id].ShouldBe(1);
        DatabaseFailures.IsUnavailable(failure).ShouldBeTrue();
    }

    public static readonly Guid PoisonedAccount = Guid.Parse("00000000-0000-0000-0000-00000000dead");

    private Task<long> CountAsync(string slug) => app.Database.ScalarAsync<long>("SELECT count(*) FROM communities WHERE slug = @s", ("s", slug));

    [Fact]
    public async Task Send_ValidCommand_CommitsOnce()
    {
        var result = await app.SendAsync(new WriteCommunity.Command("commits", Guid.NewGuid(), false));

        result.IsSuccess.ShouldBeTrue();
        (await CountAsync("commits")).ShouldBe(1);
    }

    [Fact]
    public async Task Send_InvalidCommand_IsValidationFailureAndNothingWritten()
    {
        var result = await app.SendAsync(new WriteCommunity.Command("", Guid.NewGuid(), false));

        var failure = result.Error.ShouldBeOfType<ValidationFailed>();
        failure.Errors.Keys.ShouldContain("slug");
        (await app.Database.ScalarAsync<long>("SELECT count(*) FROM communities")).ShouldBe(0);
    }

    [Fact]
    public async Task Send_HandlerReturnsFailure_RollsBackItsWrites()
    {
        var result = await app.SendAsync(new WriteCommunity.Command("rolled", Guid.NewGuid(), true));

        result.Error.ShouldBeOfType<AlreadyExists>();
        (await CountAsync("rolled")).ShouldBe(0);
    }

    [Fact]
    public async Task Send_ConservationViolation_RollsBackCountsAndFails()
    {
        var before = FailureCount(app.ScrapeMetrics());

        var result = await app.SendAsync(new WriteCommunity.Command("guarded", PoisonedAccount, false));

        result.Error.ShouldBeOfType<ConservationViolated>().Invariant.ShouldBe("T1");
        (await CountAsync("guarded")).ShouldBe(0);
        FailureCount(app.ScrapeMetrics()).ShouldBe(before + 1);
        app.ScrapeMetrics().ShouldContain("conservation_guard_checks_total{result=\"violated\"}");
    }

    [Fact]
    public async Task Send_ConservationPasses_CommitsAndCountsOk()
    {
        var result = await app.SendAsync(new WriteCommunity.Command("passes", Guid.NewGuid(), false));

        result.IsSuccess.ShouldBeTrue();
        (await CountAsync("passes")).ShouldBe(1);
        app.ScrapeMetrics().ShouldContain("conservation_guard_checks_total{result=\"ok\"}");
    }

    private static long FailureCount(string metrics) =>
        metrics.Split('\n')
            .Where(l => l.StartsWith("conservation_guard_failures_total{invariant=\"T1\"}", StringComparison.Ordinal))
            .Select(l => long.Parse(l.Split(' ')[^1]))
            .SingleOrDefault();
}
