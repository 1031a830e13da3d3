using System.Diagnostics;
using System.Numerics;
using System.Text;
using System.Text.Json;
using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Persistence;
using Freeside.Features.Common.RateLimiting;
using Freeside.Features.Communities;
using Freeside.Features.Common.Ethereum;
using Freeside.Features.Identity.Ownership;
using Freeside.Features.Identity.S2S;
using Freeside.Features.Inference.Finn;
using Freeside.Features.Ledger;
using MediatR;
using Microsoft.EntityFrameworkCore;
using Npgsql;
using Microsoft.Extensions.Logging;

namespace Freeside.Features.Inference;

/// <summary>Where a chat came from; every surface sends the same <see cref="Chat.Command"/>.</summary>
public enum ChatSource
{
    Web,
    Discord,
    Telegram,
    Api,
}

/// <summary>
/// Who pays for a chat and what it may use when that is not the agent's community: a developer's API key.
/// The developer's own limits are checked before (the chat limits and the per-wallet daily cap are the
/// community's, so they do not apply); <see cref="Messages"/> replace the stored conversation (the API is
/// stateless), and a sandbox call holds and charges nothing but is still finalized, so its usage event exists.
/// </summary>
public sealed record ChatPayer(
    Guid AccountId, Guid TenantId, string Subject, string Tier, IReadOnlyList<string> AllowedPools, IReadOnlyList<ChatTurn> Messages, int MaxTokens, bool Sandbox);

public sealed record ChatTurn(string Role, string Content);

/// <summary>Where a chat's stream goes: an SSE response, a Discord message being edited, an OpenAI-style stream.</summary>
public interface IChatSink
{
    Task StartAsync(Chat.Started started, CancellationToken cancellationToken);

    /// <summary>Delivers text; a sink may hold it until <see cref="FlushAsync"/>, which the chat calls before it waits for finn again.</summary>
    Task TokenAsync(string text, CancellationToken cancellationToken);

    /// <summary>Sends what <see cref="TokenAsync"/> held. Tokens that reached Freeside together leave together (one write, not one each).</summary>
    Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    Task EndAsync(Chat.Ended ended, CancellationToken cancellationToken);

    Task ErrorAsync(string code, string message, CancellationToken cancellationToken);
}

/// <summary>
/// Talk to the agent of an NFT the caller owns, streamed, paying exactly for what was delivered
/// (contracts/finn.md, "What Freeside does with it"; docs/inference.md). Not a transactional command:
/// a stream may run for minutes, so the money moves in the ledger's own short transactions through
/// <see cref="LedgerBatcher"/> — reserve, then finalize or release — never in one held open around finn.
/// </summary>
public static partial class Chat
{
    public const int MaxMessageBytes = 8 * 1024;
    public const int MaxTokens = 512;
    public const int ContextMessages = 20;

    public sealed record Command(
        string Slug, string TokenId, EthereumAddress Wallet, string Message, string? Pool, ChatSource Source, IChatSink Sink, Guid? ConversationId = null,
        ChatPayer? Payer = null, Ensembles.Request? Ensemble = null)
        : IRequest<Result<Outcome>>;

    public sealed record Started(Guid ConversationId, Guid MessageId, string Pool, string PersonalityId);

    public sealed record Ended(long PromptTokens, long CompletionTokens, long CostMicro, long BalanceMicro);

    /// <summary>How the call was settled.</summary>
    public sealed record Outcome(Guid MessageId, Guid ReservationId, string Pool, long HeldMicro, long ChargedMicro, string BillingMethod, bool Completed,
        long PromptTokens = 0, long CompletionTokens = 0);

    private sealed record FinnMessage(string Role, string Content);

    private static readonly JsonSerializerOptions FinnJson = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    public sealed class Validator : AbstractValidator<Command>
    {
        public Validator()
        {
            // A payer may call a pool with no agent behind it (empty slug) and brings its own messages.
            When(c => c.Payer is null || c.Slug.Length > 0, () =>
            {
                RuleFor(c => c.Slug).NotEmpty().MaximumLength(63);
                RuleFor(c => c.TokenId).Must(AgentAccess.IsTokenId)
                    .WithMessage("token_id must be a decimal ERC-721 token id.");
            });
            RuleFor(c => c.Payer!.MaxTokens).InclusiveBetween(1, 4096).When(c => c.Payer is not null);
            RuleFor(c => c.Payer!.Messages).NotEmpty().When(c => c.Payer is not null);
            RuleFor(c => c.Message).NotEmpty()
                .Must(m => Encoding.UTF8.GetByteCount(m) <= MaxMessageBytes).WithMessage($"message must be at most {MaxMessageBytes} bytes of UTF-8.")
                .When(c => c.Payer is null);
            RuleFor(c => c.Pool).Must(p => p is null || PoolCatalog.All.ContainsKey(p)).WithMessage("pool must be one of finn's pools.");
            When(c => c.Ensemble is not null, () =>
            {
                RuleFor(c => c.Ensemble!.Strategy).Must(s => s is not null && Ensembles.Strategies.Contains(s))
                    .OverridePropertyName("ensemble.strategy").WithMessage($"ensemble.strategy must be one of {string.Join(", ", Ensembles.Strategies)}.");
                RuleFor(c => c.Ensemble!.N).InclusiveBetween(2, Ensembles.MaxRequestedN).When(c => c.Ensemble!.N is not null)
                    .OverridePropertyName("ensemble.n").WithMessage($"ensemble.n must be from 2 to {Ensembles.MaxRequestedN} (it is clamped to the tier's maximum).");
                RuleFor(c => c.Ensemble!.Quorum).InclusiveBetween(1, Ensembles.MaxRequestedN).When(c => c.Ensemble!.Quorum is not null)
                    .OverridePropertyName("ensemble.quorum").WithMessage($"ensemble.quorum must be from 1 to {Ensembles.MaxRequestedN} (it is clamped to n).");
            });
        }
    }

    internal sealed partial class Handler(
        FreesideDb db,
        NpgsqlDataSource database,
        NftOwnership ownership,
        FinnClient finn,
        LedgerBatcher ledger,
        IChatReservationGate gate,
        InferenceSettings settings,
        InferenceMetrics metrics,
        IMediator mediator,
        RateLimiter limiter,
        TimeProvider time,
        ILogger<Handler> logger) : IRequestHandler<Command, Result<Outcome>>
    {
        public async Task<Result<Outcome>> Handle(Command request, CancellationToken cancellationToken)
        {
            if (!settings.AgentEnabled)
            {
                return new AgentsDisabled();
            }

            var payer = request.Payer;
            var agent = payer is not null && request.Slug.Length == 0
                ? PlainApiCall
                : await AgentAccess.ResolveAsync(db, ownership, request.Slug, request.TokenId, request.Wallet, cancellationToken);
            if (!agent.IsSuccess)
            {
                return agent.Error!;
            }

            var community = agent.Value.Community;
            var allowed = payer?.AllowedPools ?? PoolCatalog.AllowedFor(community.DefaultAccessLevel);
            if (request.Pool is { } pool && !allowed.Contains(pool))
            {
                return new PoolNotInTier(pool, payer?.Tier ?? PoolCatalog.Tier(community.DefaultAccessLevel));
            }

            S2SEnsemble? ensemble = null;
            if (request.Ensemble is { } asking)
            {
                var planned = Ensembles.Plan(asking, community.DefaultAccessLevel, settings.EnsembleEnabled);
                if (!planned.IsSuccess)
                {
                    return planned.Error!;
                }

                ensemble = planned.Value;
            }

            var tier = payer?.Tier ?? PoolCatalog.Tier(community.DefaultAccessLevel);
            if (payer is null)
            {
                // The four dimensions in one step: a chat one of them refuses uses up nothing of the others.
                (string Dimension, string Key)[] dimensions =
                [
                    ("burst", agent.Value.Wallet), ("user", agent.Value.Wallet), ("channel", request.Source + ":" + agent.Value.NftId), ("community", community.Id.ToString()),
                ];
                var (refused, decision) = await limiter.AcquireAllAsync(
                    [.. dimensions.Select(d => (limiter.Settings.Policy(RateLimitPolicies.ChatPolicy(d.Dimension, tier)), d.Key))], cancellationToken);
                if (refused >= 0)
                {
                    return new ChatRateLimited(dimensions[refused].Dimension, decision!);
                }
            }

            var askedAt = time.GetUtcNow();
            var wallet = agent.Value.Wallet;
            // Spent today = what this wallet's finished chats cost since UTC midnight. Chats still streaming are not
            // counted, so concurrent chats may pass the cap by at most the burst bucket's few worst cases.
            var dayStart = new DateTimeOffset(askedAt.UtcDateTime.Date, TimeSpan.Zero);
            var standing = payer is not null
                ? new Standing(payer.AccountId, long.MaxValue, 0)
                : await StandingAsync(community.Id, wallet, dayStart, cancellationToken);
            if (standing.Account is not { } account)
            {
                return new InsufficientCredits(1, 0);
            }

            var messageId = Guid.NewGuid();
            var nftId = agent.Value.NftId.Length > 0 ? agent.Value.NftId : null;
            var conversationId = request.ConversationId ?? Guid.NewGuid();
            var context = payer is null && request.ConversationId is { } asked
                ? await db.ReadInCommunityAsync(community.Id, ct => db.Set<AgentMessage>().AsNoTracking()
                    .Where(m => m.ConversationId == asked && m.CommunityId == community.Id && m.NftId == nftId && m.AuthorWallet == wallet)
                    .OrderByDescending(m => m.CreatedAt).ThenByDescending(m => m.Id).Take(ContextMessages)
                    .Select(m => new FinnMessage(m.Role, m.Content)).ToListAsync(ct), cancellationToken)
                : [];
            if (request.ConversationId is not null && context.Count == 0)
            {
                return new NotFound("conversation", conversationId.ToString());
            }

            context.Reverse();
            var messages = context.Take(ContextMessages - 1).Append(new FinnMessage("user", request.Message)).ToList();
            if (messages.Count > ContextMessages)
            {
                messages = messages[^ContextMessages..];
            }

            if (payer is not null)
            {
                messages = [.. payer.Messages.Select(m => new FinnMessage(m.Role, m.Content))];
            }

            var maxTokens = payer?.MaxTokens ?? MaxTokens;
            var body = JsonSerializer.SerializeToUtf8Bytes(new { messages, max_tokens = maxTokens }, FinnJson);
            var promptTokens = PoolCatalog.EstimateTokens(messages.Sum(m => (long)m.Content.Length));
            // An ensemble may run all N calls to the end, so it holds N worst cases (also for fallback).
            var worstCase = payer is { Sandbox: true }
                ? 0
                : checked(PoolCatalog.WorstCaseMicro(request.Pool is { } p ? [p] : allowed, promptTokens, maxTokens) * (ensemble?.N ?? 1));

            if (standing.Spent + worstCase > standing.Cap)
            {
                return new DailyCapReached(standing.Cap, standing.Spent, worstCase);
            }

            var key = "chat:" + messageId.ToString("N");
            Func<Task<Result<ReservationView>>> reserve = () => ledger.ReserveAsync(new ReserveCredits.Command(account, worstCase, key, nftId), CancellationToken.None);
            // A community's budgets bound what the community pays; a payer (a developer's account) is not the community's money.
            var hold = payer is not null ? await reserve() : await gate.ReserveAsync(community.Id, wallet, worstCase, reserve, CancellationToken.None);
            if (!hold.IsSuccess)
            {
                return hold.Error!;
            }

            var reservation = hold.Value.ReservationId;
            var claims = new S2SClaims(payer?.Subject ?? request.Wallet.ToChecksumString(), payer is not null && nftId is null ? payer.TenantId : community.Id,
                tier, allowed, reservation, nftId, request.Pool, ensemble);
            var clock = Stopwatch.StartNew();
            Result<FinnStream> opened;
            try
            {
                opened = await finn.StreamAsync(new FinnCall(claims, body), cancellationToken);
            }
            catch (OperationCanceledException)
            {
                await ReleaseAsync(account, reservation, "caller left before finn answered");
                throw;
            }

            if (!opened.IsSuccess)
            {
                await ReleaseAsync(account, reservation, opened.Error!.Type);
                return opened.Error!;
            }

            await using var stream = opened.Value;
            var poolUsed = stream.PoolUsed;
            if (!allowed.Contains(poolUsed) || stream.Start.PoolId != poolUsed)
            {
                LogPoolClaimViolation(logger, poolUsed, tier, reservation);
                metrics.PoolClaimViolation(poolUsed);
                await ReleaseAsync(account, reservation, "pool claim violation");
                return new PoolClaimViolation(poolUsed);
            }

            metrics.FirstToken(poolUsed, clock.Elapsed);
            var filter = new AntiNarrationFilter();
            var delivered = new StringBuilder();
            var shown = new StringBuilder();
            FinnUsage? usage = null;
            FinnEnded? ended = null;
            FinnFailed? failed = null;
            var callerGone = false;
            string? broken = null;
            try
            {
                await request.Sink.StartAsync(new Started(conversationId, messageId, poolUsed, stream.PersonalityId), cancellationToken);
                var held = false;
                await foreach (var next in stream.ReadEventsAsync(cancellationToken))
                {
                    switch (next)
                    {
                        case FinnChunk chunk:
                            delivered.Append(chunk.Delta);
                            var safe = filter.Push(chunk.Delta);
                            shown.Append(safe);
                            if (safe.Length > 0)
                            {
                                await request.Sink.TokenAsync(safe, cancellationToken);
                                held = true;
                            }

                            break;
                        case FinnUsage u:
                            usage = u;
                            break;
                        case FinnEnded e:
                            ended = e;
                            break;
                        case FinnFailed f:
                            failed = f;
                            break;
                    }

                    // Nothing more has arrived: send what the sink holds before waiting for finn.
                    if (held && !stream.HasPending)
                    {
                        await request.Sink.FlushAsync(cancellationToken);
                        held = false;
                    }
                }

                if (filter.Flush() is { Length: > 0 } rest)
                {
                    shown.Append(rest);
                    await request.Sink.TokenAsync(rest, cancellationToken);
                    held = true;
                }

                if (held)
                {
                    await request.Sink.FlushAsync(cancellationToken);
                }
            }
            catch (FinnProtocolException e)
            {
                broken = e.Message;
            }
            catch (Exception e) when (e is OperationCanceledException or IOException)
            {
                // The caller went away (the sink could not be written, or the request was aborted).
                callerGone = true;
            }

            metrics.Filtered(filter.Hits);
            var completed = ended is not null && usage is not null && failed is null && broken is null && !callerGone;
            long charged;
            long inputTokens;
            long outputTokens;
            string billing;
            if (completed)
            {
                inputTokens = usage!.PromptTokens;
                outputTokens = usage.CompletionTokens;
                charged = ended!.CostMicro;
                billing = "reported";
            }
            else
            {
                // Only what reached Freeside is paid for, estimated from the text itself; nothing delivered costs nothing.
                // finn's usage of an ensemble already sums its calls; an estimate counts the calls that ran side by side.
                var calls = Ensembles.ObservedCalls(ensemble);
                inputTokens = delivered.Length == 0 ? 0 : usage?.PromptTokens ?? promptTokens * calls;
                outputTokens = delivered.Length == 0 ? 0 : PoolCatalog.EstimateTokens(delivered.Length) * calls;
                charged = PoolCatalog.CostMicro(poolUsed, inputTokens, outputTokens);
                billing = "observed_chunks";
            }

            charged = Math.Min(charged, hold.Value.HeldMicro);
            var finalized = await ledger.FinalizeAsync(new FinalizeReservation.Command(account, reservation, charged,
                new Usage(nftId, poolUsed, (int)Math.Min(inputTokens, int.MaxValue), (int)Math.Min(outputTokens, int.MaxValue), billing,
                    payer is { Sandbox: true } ? "sandbox" : "standard"), key),
                CancellationToken.None);
            if (!finalized.IsSuccess)
            {
                // The hold stays pending; the orphan sweep releases it. Never charge by guesswork here.
                LogFinalizeFailed(logger, reservation, finalized.Error!.Type);
                metrics.Finalized(billing, "failed");
                return finalized.Error!;
            }

            metrics.Finalized(billing, completed ? "completed" : "partial");
            if (ensemble is not null)
            {
                metrics.Ensemble(ensemble.Strategy, ensemble.N, completed ? "completed" : "partial", finalized.Value.ChargedMicro);
            }

            var source = request.Source.ToString().ToLowerInvariant();
            // The API is stateless: a developer's call is recorded by its usage event (and the developer's own usage), not as a conversation.
            var recorded = payer is not null ? 0 : await mediator.Send(new RecordExchange.Command(community.Id,
            [
                new AgentMessage
                {
                    Id = Guid.NewGuid(), ConversationId = conversationId, NftId = agent.Value.NftId, CommunityId = community.Id, Source = source,
                    AuthorWallet = wallet, Role = "user", Content = request.Message, CreatedAt = askedAt,
                },
                new AgentMessage
                {
                    Id = messageId, ConversationId = conversationId, NftId = agent.Value.NftId, CommunityId = community.Id, Source = source,
                    AuthorWallet = wallet, Role = "assistant", Content = shown.ToString(), PoolId = poolUsed,
                    TokensInput = (int)Math.Min(inputTokens, int.MaxValue), TokensOutput = (int)Math.Min(outputTokens, int.MaxValue),
                    CostMicro = finalized.Value.ChargedMicro, CreatedAt = time.GetUtcNow(),
                },
            ]), CancellationToken.None);
            if (!recorded.IsSuccess)
            {
                LogRecordFailed(logger, conversationId, recorded.Error!.Type);
            }
            metrics.Settled(poolUsed, inputTokens, outputTokens, finalized.Value.ChargedMicro, clock.Elapsed);
            if (!callerGone)
            {
                try
                {
                    if (completed)
                    {
                        // The account's balance as the finalizing transaction left it (one account per community).
                        var balance = payer is not null ? 0 : finalized.Value.AvailableMicro ?? 0;
                        await request.Sink.EndAsync(new Ended(inputTokens, outputTokens, finalized.Value.ChargedMicro, balance), cancellationToken);
                    }
                    else
                    {
                        await request.Sink.ErrorAsync(failed?.Code ?? "STREAM_INTERRUPTED",
                            failed is not null ? "The agent stopped with an error." : "The agent's stream broke off.", cancellationToken);
                    }
                }
                catch (Exception e) when (e is OperationCanceledException or IOException)
                {
                    // The caller left after settlement; nothing more to do.
                }
            }

            return new Outcome(messageId, reservation, poolUsed, hold.Value.HeldMicro, finalized.Value.ChargedMicro, billing, completed, inputTokens, outputTokens);
        }

        /// <summary>The community's account, the wallet's daily cap and what it spent today: one query, one round trip.</summary>
        private async Task<Standing> StandingAsync(Guid communityId, string wallet, DateTimeOffset dayStart, CancellationToken cancellationToken)
        {
            await using var connection = await database.OpenConnectionAsync(cancellationToken);
            await using var batch = ScopedBatch.Create(connection, communityId);
            var query = new NpgsqlBatchCommand("""
                SELECT (SELECT a.id FROM credit_accounts a WHERE a.community_id = @c LIMIT 1),
                       coalesce((SELECT s.daily_cap_per_wallet_micro FROM agent_settings s WHERE s.community_id = @c), @default_cap),
                       coalesce((SELECT sum(coalesce(m.cost_micro, 0)) FROM agent_messages m
                                 WHERE m.community_id = @c AND m.author_wallet = @w AND m.role = 'assistant' AND m.created_at >= @day), 0)::bigint
                """);
            query.Parameters.AddWithValue("c", communityId);
            query.Parameters.AddWithValue("w", wallet);
            query.Parameters.AddWithValue("day", dayStart);
            query.Parameters.AddWithValue("default_cap", AgentSettingsRow.DefaultDailyCapPerWalletMicro);
            batch.BatchCommands.Add(query);
            await using var reader = await ScopedBatch.ReadAsync(batch, cancellationToken);
            await reader.ReadAsync(cancellationToken);
            return new Standing(reader.IsDBNull(0) ? null : reader.GetGuid(0), reader.GetInt64(1), reader.GetInt64(2));
        }

        private sealed record Standing(Guid? Account, long Cap, long Spent);

        // A payer's call of a pool with no agent behind it: no community, no NFT (finn's contract leaves nft_id out).
        private static readonly Result<OwnedAgent> PlainApiCall = new OwnedAgent(new Community { Slug = "", Name = "", CollectionAddress = "" }, "", "");

        private async Task ReleaseAsync(Guid account, Guid reservation, string reason)
        {
            var released = await ledger.ReleaseAsync(new ReleaseReservation.Command(account, reservation, reason), CancellationToken.None);
            if (!released.IsSuccess)
            {
                LogReleaseFailed(logger, reservation, released.Error!.Type);
            }
        }

        [LoggerMessage(Level = LogLevel.Error, Message = "finn claimed pool {Pool} outside tier {Tier} for reservation {ReservationId}; charged nothing")]
        private static partial void LogPoolClaimViolation(ILogger logger, string pool, string tier, Guid reservationId);

        [LoggerMessage(Level = LogLevel.Error, Message = "Finalizing reservation {ReservationId} failed with {Error}; the orphan sweep will release it")]
        private static partial void LogFinalizeFailed(ILogger logger, Guid reservationId, string error);

        [LoggerMessage(Level = LogLevel.Error, Message = "Storing a turn of conversation {ConversationId} failed with {Error}; the charge stands")]
        private static partial void LogRecordFailed(ILogger logger, Guid conversationId, string error);

        [LoggerMessage(Level = LogLevel.Error, Message = "Releasing reservation {ReservationId} failed with {Error}; the orphan sweep will release it")]
        private static partial void LogReleaseFailed(ILogger logger, Guid reservationId, string error);
    }
}
