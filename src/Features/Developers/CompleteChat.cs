using System.Text;
using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Ethereum;
using Freeside.Features.Common.RateLimiting;
using Freeside.Features.Communities;
using Freeside.Features.Inference;
using MediatR;

namespace Freeside.Features.Developers;

/// <summary>
/// <c>POST /v1/chat/completions</c> for a verified key: the model decides the pool (or the agent), the key's
/// mode decides the pools, limits and billing, then the shared <see cref="Chat"/> service calls finn,
/// holds, finalizes and writes the usage event; the call is recorded for the developer's usage report.
/// </summary>
public static class CompleteChat
{
    public const int MaxCompletionTokens = 4096;
    public const int MaxMessages = 100;
    public const int MaxContentBytes = 32 * 1024;
    public const string AgentPrefix = "agent:";
    public static readonly IReadOnlyList<string> SandboxPools = ["cheap"];

    public sealed record Command(
        VerifiedKey Key, string? Model, IReadOnlyList<ChatTurn>? Messages, int? MaxTokens, double? Temperature, IReadOnlyList<string>? Stop,
        string? User, IChatSink Sink) : IRequest<Result<Completed>>;

    public sealed record Completed(Chat.Outcome Outcome, string Model);

    public sealed class Validator : AbstractValidator<Command>
    {
        public Validator()
        {
            RuleFor(c => c.Model).NotEmpty().MaximumLength(200);
            RuleFor(c => c.Messages).NotEmpty().Must(m => m!.Count <= MaxMessages).WithMessage($"messages may hold at most {MaxMessages} entries.");
            RuleForEach(c => c.Messages).Must(m => m.Role is "system" or "user" or "assistant")
                .WithMessage("Each message's role must be system, user or assistant.");
            RuleFor(c => c.Messages).Must(m => m is null || m.Sum(t => Encoding.UTF8.GetByteCount(t.Content)) <= MaxContentBytes)
                .WithMessage($"The messages' content may be at most {MaxContentBytes} bytes of UTF-8 in all.");
            RuleFor(c => c.MaxTokens).InclusiveBetween(1, MaxCompletionTokens);
            RuleFor(c => c.Temperature).InclusiveBetween(0, 2);
            RuleFor(c => c.Stop).Must(s => s is null || (s.Count <= 4 && s.All(x => x.Length is > 0 and <= 100)))
                .WithMessage("stop may hold at most 4 strings of 1–100 characters.");
            RuleFor(c => c.User).MaximumLength(256);
        }
    }

    internal sealed class Handler(IMediator mediator, RateLimiter limiter, DailyTokens tokens, DeveloperAccountIds accounts, TimeProvider time)
        : IRequestHandler<Command, Result<Completed>>
    {
        public async Task<Result<Completed>> Handle(Command request, CancellationToken cancellationToken)
        {
            var key = request.Key;
            var model = request.Model!;
            var (slug, tokenId, pool) = ParseModel(model);
            if (slug is null && pool is null)
            {
                return new UnknownModel(model);
            }

            var (tier, allowed) = PoolsFor(key);
            if (pool is not null && !allowed.Contains(pool))
            {
                return new ModelNotAllowed(model, key.Live
                    ? $"Your developer tier ({tier}) does not include the '{pool}' pool."
                    : $"Test keys are the sandbox: they may use only the cheap pool, not '{pool}'. Use a live key.");
            }

            var perMinute = await limiter.AcquireAsync(
                new RateLimitPolicy("api-key-requests", RateLimitAlgorithm.SlidingWindow, key.RequestsPerMinute, TimeSpan.FromMinutes(1)), key.Id, 1,
                cancellationToken);
            if (!perMinute.Allowed)
            {
                return new ApiKeyRateLimited("requests_per_minute", perMinute,
                    $"Rate limit reached for requests: {key.RequestsPerMinute} per minute on key {key.Id}; retry after {perMinute.RetryAfterSeconds} s.");
            }

            var messages = request.Messages!;
            var prompt = PoolCatalog.EstimateTokens(messages.Sum(m => (long)m.Content.Length));
            var maxTokens = request.MaxTokens ?? MaxCompletionTokens;
            var (taken, daily) = await tokens.TakeAsync(key.Id, key.TokensPerDay, prompt + maxTokens, prompt + 1);
            if (taken is null)
            {
                return new ApiKeyRateLimited("tokens_per_day", daily,
                    $"Rate limit reached for tokens: {key.TokensPerDay} per day on key {key.Id}; the day resets at 00:00 UTC.");
            }

            // What is left of the day's tokens caps this call's answer.
            maxTokens = (int)Math.Min(maxTokens, taken.Tokens - prompt);
            long used = 0;
            try
            {
                var account = await accounts.GetAsync(key.DeveloperId, mediator, cancellationToken);
                if (!account.IsSuccess)
                {
                    return account.Error!;
                }

                EthereumAddress.TryParse(key.Wallet, out var wallet);
                var payer = new ChatPayer(account.Value, key.DeveloperId, "key:" + (key.Live ? ApiKeyFormat.LivePrefix : ApiKeyFormat.TestPrefix) + key.Id,
                    tier, allowed, messages, maxTokens, Sandbox: !key.Live);
                var last = messages.LastOrDefault(m => m.Role == "user")?.Content ?? messages[^1].Content;
                var chat = await mediator.Send(new Chat.Command(slug ?? "", tokenId ?? "", wallet, last, pool, ChatSource.Api, request.Sink, null, payer),
                    cancellationToken);
                if (!chat.IsSuccess)
                {
                    return chat.Error!;
                }

                var outcome = chat.Value;
                used = outcome.PromptTokens + outcome.CompletionTokens;
                var recorded = await mediator.Send(new RecordApiCall.Command(new ApiCall
                {
                    Id = outcome.MessageId, DeveloperId = key.DeveloperId, KeyId = key.Id, Mode = key.Live ? "live" : "test", Model = model,
                    PoolId = outcome.Pool, ReservationId = outcome.ReservationId,
                    TokensInput = (int)Math.Min(outcome.PromptTokens, int.MaxValue), TokensOutput = (int)Math.Min(outcome.CompletionTokens, int.MaxValue),
                    AmountMicro = outcome.ChargedMicro, BillingMode = key.Live ? "live" : "sandbox", Completed = outcome.Completed, CreatedAt = time.GetUtcNow(),
                }), CancellationToken.None);
                return recorded.IsSuccess ? new Completed(outcome, model) : recorded.Error!;
            }
            finally
            {
                await tokens.SettleAsync(taken, used);
            }
        }

        private static (string Tier, IReadOnlyList<string> Pools) PoolsFor(VerifiedKey key) =>
            !key.Live ? ("free", SandboxPools)
            : key.Tier == Developer.Enterprise ? ("enterprise", PoolCatalog.AllowedFor(AccessLevel.Enterprise))
            : ("pro", PoolCatalog.AllowedFor(AccessLevel.Pro));
    }

    /// <summary>A pool id, or <c>agent:&lt;community slug&gt;/&lt;token id&gt;</c>.</summary>
    public static (string? Slug, string? TokenId, string? Pool) ParseModel(string model)
    {
        if (PoolCatalog.All.ContainsKey(model))
        {
            return (null, null, model);
        }

        if (model.StartsWith(AgentPrefix, StringComparison.Ordinal) && model[AgentPrefix.Length..].Split('/') is [{ Length: > 0 and <= 63 } slug, var token]
            && token.Length is > 0 and <= 78 && token.All(char.IsAsciiDigit))
        {
            return (slug, token, null);
        }

        return (null, null, null);
    }

    public static IReadOnlyList<string> PoolsOf(VerifiedKey key) =>
        !key.Live ? SandboxPools
        : PoolCatalog.AllowedFor(key.Tier == Developer.Enterprise ? AccessLevel.Enterprise : AccessLevel.Pro);
}
