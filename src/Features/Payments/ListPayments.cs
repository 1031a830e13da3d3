using System.Buffers.Text;
using System.Text;
using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
using Freeside.Features.Payments.Domain;
using MediatR;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Npgsql;

namespace Freeside.Features.Payments;

/// <summary>
/// The platform admin's payment dashboard: stuck payments (not finished, failed, expired or refunded
/// after 30 minutes), unmatched IPNs, or everything; newest first, keyset-paged by an opaque cursor.
/// </summary>
public static class ListPayments
{
    public static readonly TimeSpan StuckAfter = TimeSpan.FromMinutes(30);

    public sealed record Query(string? Status, int? Limit, string? Cursor) : IQuery<Page>;

    public sealed record Page(IReadOnlyList<Item> Items, string? NextCursor);

    /// <summary>A payment, or (for unmatched) an IPN no payment claimed: then PaymentId is null and the IPN's ids are shown.</summary>
    public sealed record Item(Guid? PaymentId, Guid? EventId, string? OrderId, string? InvoiceId, string? ProviderPaymentId, string Status, string? PackId,
        long? CreditsMicro, Guid? CommunityId, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt);

    public sealed class Validator : AbstractValidator<Query>
    {
        public Validator()
        {
            RuleFor(q => q.Status).Must(s => s is null or "stuck" or "unmatched" or "all").WithMessage("status must be stuck, unmatched or all.");
            RuleFor(q => q.Limit).InclusiveBetween(1, 100);
            RuleFor(q => q.Cursor).Must(c => c is null || Cursor.TryRead(c, out _)).WithMessage("cursor is not one this API handed out.");
        }
    }

    internal sealed class Handler(FreesideDb db, TimeProvider time) : IRequestHandler<Query, Result<Page>>
    {
        public async Task<Result<Page>> Handle(Query request, CancellationToken cancellationToken)
        {
            var limit = request.Limit ?? 50;
            var after = request.Cursor is { } raw && Cursor.TryRead(raw, out var c) ? c : ((DateTimeOffset, Guid)?)null;
            var items = await db.Database.CreateExecutionStrategy().ExecuteAsync(async ct =>
            {
                await using var transaction = await db.Database.BeginTransactionAsync(System.Data.IsolationLevel.ReadCommitted, ct);
                await db.EnterPlatformScopeAsync(ct);
                return request.Status == "unmatched" ? await UnmatchedAsync(after, limit + 1, ct) : await PaymentsAsync(request.Status ?? "stuck", after, limit + 1, ct);
            }, cancellationToken);
            var next = items.Count > limit ? Cursor.Write(items[limit - 1].CreatedAt, items[limit - 1].PaymentId ?? items[limit - 1].EventId!.Value) : null;
            return new Page([.. items.Take(limit)], next);
        }

        private async Task<List<Item>> PaymentsAsync(string status, (DateTimeOffset At, Guid Id)? after, int take, CancellationToken ct)
        {
            var query = db.Set<Payment>().AsNoTracking();
            if (status == "stuck")
            {
                var before = time.GetUtcNow() - StuckAfter;
                query = query.Where(p => p.CreatedAt < before && p.Status != PaymentStatus.Finished && p.Status != PaymentStatus.Failed
                    && p.Status != PaymentStatus.Expired && p.Status != PaymentStatus.Refunded);
            }

            if (after is { } a)
            {
                query = query.Where(p => p.CreatedAt < a.At || (p.CreatedAt == a.At && p.Id.CompareTo(a.Id) < 0));
            }

            var rows = await query.OrderByDescending(p => p.CreatedAt).ThenByDescending(p => p.Id).Take(take).ToListAsync(ct);
            return [.. rows.Select(p => new Item(p.Id, null, p.OrderId, p.InvoiceId, p.ProviderPaymentId, p.Status.ToWire(), p.PackId, p.CreditsMicro, p.CommunityId,
                p.CreatedAt, p.UpdatedAt))];
        }

        private async Task<List<Item>> UnmatchedAsync((DateTimeOffset At, Guid Id)? after, int take, CancellationToken ct)
        {
            await using var command = db.Database.GetDbConnection().CreateCommand();
            command.Transaction = db.Database.CurrentTransaction!.GetDbTransaction();
            command.CommandText = $"""
                SELECT id, order_id, invoice_id, provider_payment_id, status, received_at
                FROM webhook_events
                WHERE payment_id IS NULL {(after is null ? "" : "AND (received_at < @at OR (received_at = @at AND id < @id))")}
                ORDER BY received_at DESC, id DESC
                LIMIT @take
                """;
            command.Parameters.Add(new NpgsqlParameter("take", take));
            if (after is { } a)
            {
                command.Parameters.Add(new NpgsqlParameter("at", a.At));
                command.Parameters.Add(new NpgsqlParameter("id", a.Id));
            }

            var items = new List<Item>();
            await using var reader = await command.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                var at = reader.GetFieldValue<DateTimeOffset>(5);
                items.Add(new Item(null, reader.GetGuid(0), reader.IsDBNull(1) ? null : reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetString(2),
                    reader.GetString(3), reader.GetString(4), null, null, null, at, at));
            }

            return items;
        }
    }

    /// <summary>base64url of "ticks:id": opaque to callers, checked on the way back in.</summary>
    internal static class Cursor
    {
        public static string Write(DateTimeOffset at, Guid id) =>
            Base64Url.EncodeToString(Encoding.UTF8.GetBytes(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{at.UtcTicks}:{id:N}")));

        public static bool TryRead(string raw, out (DateTimeOffset At, Guid Id) value)
        {
            value = default;
            try
            {
                var parts = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(raw)).Split(':');
                if (parts.Length == 2 && long.TryParse(parts[0], out var ticks) && ticks > 0 && ticks < DateTimeOffset.MaxValue.UtcTicks
                    && Guid.TryParseExact(parts[1], "N", out var id))
                {
                    value = (new DateTimeOffset(ticks, TimeSpan.Zero), id);
                    return true;
                }
            }
            catch (FormatException)
            {
            }

            return false;
        }
    }
}
