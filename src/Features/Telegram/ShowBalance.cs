using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Persistence;
using Freeside.Features.Communities;
using Freeside.Features.Inference;
using Freeside.Features.Ledger;
using Freeside.Features.Linking;
using MediatR;
using Microsoft.EntityFrameworkCore;

namespace Freeside.Features.Telegram;

/// <summary>/balance: the credits of the chat's agent's community (what its chats draw on) and what this wallet spent there today against its daily cap.</summary>
public static class ShowBalance
{
    public sealed record Command(TelegramSpeaker Speaker) : IRequest<Result<Replied>>;

    internal sealed class Handler(FreesideDb db, IMediator mediator, TelegramBot bot, TimeProvider time) : IRequestHandler<Command, Result<Replied>>
    {
        public async Task<Result<Replied>> Handle(Command request, CancellationToken cancellationToken)
        {
            var chatId = request.Speaker.ChatId;
            var ready = await CheckoutContext.ResolveAsync(db, mediator, request.Speaker, cancellationToken);
            if (ready.Problem is { } problem)
            {
                await bot.SendTextAsync(chatId, problem, null, cancellationToken);
                return new Replied("not-ready");
            }

            var community = await db.CommunityBySlugAsync(ready.Slug!, cancellationToken);
            if (community.Error is { } missing)
            {
                await bot.SendTextAsync(chatId, TelegramText.Problem(missing), null, cancellationToken);
                return new Replied("unknown-community");
            }

            var id = community.Value.Id;
            var now = time.GetUtcNow();
            var dayStart = new DateTimeOffset(now.UtcDateTime.Date, TimeSpan.Zero);
            var wallet = ready.Wallet!.Value.ToChecksumString().ToLowerInvariant();
            var (available, spent, cap) = await db.ReadInCommunityAsync(id, async ct =>
            {
                var lots = await db.Set<CreditLot>().AsNoTracking()
                    .Where(l => l.CommunityId == id && (l.ExpiresAt == null || l.ExpiresAt > now)).SumAsync(l => l.Available, ct);
                var today = await db.Set<AgentMessage>().AsNoTracking()
                    .Where(m => m.CommunityId == id && m.AuthorWallet == wallet && m.Role == "assistant" && m.CreatedAt >= dayStart)
                    .SumAsync(m => m.CostMicro ?? 0, ct);
                var configured = await db.Set<AgentSettingsRow>().AsNoTracking().Where(s => s.CommunityId == id)
                    .Select(s => (long?)s.DailyCapPerWalletMicro).FirstOrDefaultAsync(ct);
                return (lots, today, configured ?? AgentSettingsRow.DefaultDailyCapPerWalletMicro);
            }, cancellationToken);
            await bot.SendTextAsync(chatId,
                $"{ready.Slug} has ${TelegramText.Usd(available)} of credits ({available} micro-USD).\n"
                + $"You spent ${TelegramText.Usd(spent)} there today, of your ${TelegramText.Usd(cap)} daily cap.", null, cancellationToken);
            return new Replied("balance");
        }
    }
}
