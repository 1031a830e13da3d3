using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Ethereum;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
using MediatR;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace Freeside.Features.Admin;

/// <summary>
/// Every credit movement of a community, one row per ledger entry in entry order, streamed as JSONL or
/// CSV straight from a database cursor to the response (constant memory, no row cap). Each row carries
/// the account's balance (Σ available of its lots) before and after, computed in the database over the
/// whole history so a resumed export (<c>since</c> = the last <c>entry_id</c> received) continues the
/// same running balance. Wallets appear only as EIP-55 addresses; no Discord or Telegram id and no
/// message text is ever read.
/// </summary>
public static class ExportAudit
{
    public static readonly string[] Formats = ["jsonl", "csv"];

    /// <param name="Since">An RFC 3339 time (rows at or after it) or the <c>entry_id</c> of the last row received (rows after it).</param>
    /// <param name="Until">An RFC 3339 time; rows before it.</param>
    public sealed record Query(string Slug, string? Format, string? Since, string? Until, EthereumAddress? Viewer) : IQuery<Export>;

    /// <summary>What the endpoint streams; <see cref="WriteAsync"/> runs once, after the handler has authorized the caller.</summary>
    public sealed record Export(string ContentType, string FileName, Func<Stream, CancellationToken, Task> WriteAsync);

    public static readonly string[] Columns =
    [
        "entry_id", "timestamp", "operation", "kind", "amount_micro", "pool", "nft", "wallet", "balance_before_micro", "balance_after_micro",
        "lot_id", "lot_source", "reservation_id", "finalization_id", "conservation",
    ];

    public sealed class Validator : AbstractValidator<Query>
    {
        public Validator()
        {
            RuleFor(q => q.Slug).NotEmpty().MaximumLength(63);
            RuleFor(q => q.Format).Must(f => f is null || Formats.Contains(f)).WithMessage("format must be jsonl or csv.");
            RuleFor(q => q.Since).Must(s => s is null || TryParseSince(s, out _, out _))
                .WithMessage("since must be an RFC 3339 time or the entry_id of the last row received.");
            RuleFor(q => q.Until).Must(u => u is null || TryParseTime(u, out _)).WithMessage("until must be an RFC 3339 time.");
        }
    }

    internal static bool TryParseSince(string text, out long afterEntry, out DateTimeOffset? fromTime)
    {
        fromTime = null;
        if (long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out afterEntry))
        {
            return true;
        }

        afterEntry = 0;
        if (TryParseTime(text, out var time))
        {
            fromTime = time;
            return true;
        }

        return false;
    }

    private static bool TryParseTime(string text, out DateTimeOffset time) =>
        DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out time) && text.Contains('T', StringComparison.Ordinal);

    /// <summary>Operation names of the export for each ledger entry kind.</summary>
    public static string Operation(string kind) => kind switch
    {
        "expire_hold" or "expire" => "expiry",
        "reverse" => "reversal",
        "clawback" => "refund",
        "repay" => "debt",
        _ => kind,
    };

    // The balance is a running sum of each entry's change to its lot's available, over the account's
    // entries in id order (a lot's entries are written in lot_seq order, so id order agrees with it).
    private const string Sql = """
        WITH moved AS (
            SELECT e.*, e.available_after - coalesce(lag(e.available_after) OVER (PARTITION BY e.lot_id ORDER BY e.lot_seq), 0) AS delta
            FROM ledger_entries e
            WHERE e.community_id = @c AND (@until::timestamptz IS NULL OR e.created_at < @until::timestamptz)
        ), running AS (
            SELECT m.*, sum(m.delta) OVER (PARTITION BY m.account_id ORDER BY m.id ROWS UNBOUNDED PRECEDING)::bigint AS balance_after
            FROM moved m
        )
        SELECT b.id, b.created_at, b.kind, b.amount, u.pool_id, r.nft_id, w.wallet, p.payer, b.balance_after - b.delta, b.balance_after,
               b.lot_id, l.source, b.reservation_id, r.finalization_id, coalesce(u.conservation_guard_result, true)
        FROM running b
        JOIN credit_lots l ON l.id = b.lot_id
        LEFT JOIN credit_reservations r ON r.id = b.reservation_id
        LEFT JOIN usage_events u ON u.reservation_id = b.reservation_id
        LEFT JOIN reservation_wallets w ON w.reservation_id = b.reservation_id
        LEFT JOIN payments p ON p.lot_id = b.lot_id AND b.reservation_id IS NULL
        WHERE b.id > @after AND (@since::timestamptz IS NULL OR b.created_at >= @since::timestamptz)
        ORDER BY b.id
        """;

    internal sealed class Handler(FreesideDb db) : IRequestHandler<Query, Result<Export>>
    {
        public async Task<Result<Export>> Handle(Query request, CancellationToken cancellationToken)
        {
            var access = await AdminAccess.ResolveAsync(db, request.Slug, request.Viewer, cancellationToken);
            if (access.Error is { } denied)
            {
                return denied;
            }

            var community = access.Value;
            var format = request.Format ?? "jsonl";
            long after = 0;
            DateTimeOffset? since = null;
            if (request.Since is { } s)
            {
                TryParseSince(s, out after, out since);
            }

            DateTimeOffset? until = request.Until is { } u && TryParseTime(u, out var parsed) ? parsed : null;
            return new Export(
                format == "csv" ? "text/csv; charset=utf-8" : "application/x-ndjson; charset=utf-8",
                $"{community.Slug}-audit.{format}",
                (stream, ct) => WriteAsync(community.Id, format, after, since, until, stream, ct));
        }

        private async Task WriteAsync(Guid communityId, string format, long after, DateTimeOffset? since, DateTimeOffset? until, Stream output, CancellationToken cancellationToken)
        {
            // One snapshot for the whole export, so the running balance and the rows agree.
            await using var transaction = await db.Database.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, cancellationToken);
            await db.Database.ExecuteSqlRawAsync("SET TRANSACTION READ ONLY", cancellationToken);
            await db.EnterCommunityAsync(communityId, cancellationToken);
            await using var command = AdminAccess.Command(db, Sql, communityId);
            command.Parameters.AddWithValue("after", after);
            command.Parameters.Add(new NpgsqlParameter<DateTimeOffset?>("since", since) { NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.TimestampTz });
            command.Parameters.Add(new NpgsqlParameter<DateTimeOffset?>("until", until) { NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.TimestampTz });
            await using var reader = await command.ExecuteReaderAsync(System.Data.CommandBehavior.SequentialAccess, cancellationToken);

            var buffer = new ArrayBufferWriter<byte>(64 * 1024);
            await using var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { SkipValidation = true });
            var wallets = new WalletNames();
            if (format == "csv")
            {
                buffer.Write(Encoding.UTF8.GetBytes(string.Join(',', Columns) + "\n"));
            }

            while (await reader.ReadAsync(cancellationToken))
            {
                var row = new Row(
                    reader.GetInt64(0), reader.GetFieldValue<DateTimeOffset>(1), reader.GetString(2), reader.GetInt64(3),
                    reader.IsDBNull(4) ? null : reader.GetString(4), reader.IsDBNull(5) ? null : reader.GetString(5),
                    wallets.Of(reader.IsDBNull(6) ? null : reader.GetString(6)) ?? wallets.Of(reader.IsDBNull(7) ? null : reader.GetString(7)),
                    reader.GetInt64(8), reader.GetInt64(9), reader.GetGuid(10), reader.GetString(11),
                    reader.IsDBNull(12) ? null : reader.GetGuid(12), reader.IsDBNull(13) ? null : reader.GetString(13), reader.GetBoolean(14));
                if (format == "csv")
                {
                    WriteCsv(buffer, row);
                }
                else
                {
                    WriteJson(json, row);
                    json.Flush();
                    json.Reset();
                    buffer.Write("\n"u8);
                }

                if (buffer.WrittenCount >= 48 * 1024)
                {
                    await output.WriteAsync(buffer.WrittenMemory, cancellationToken);
                    buffer.ResetWrittenCount();
                }
            }

            await output.WriteAsync(buffer.WrittenMemory, cancellationToken);
            await output.FlushAsync(cancellationToken);
        }
    }

    private sealed record Row(
        long EntryId, DateTimeOffset At, string Kind, long Amount, string? Pool, string? Nft, string? Wallet, long BalanceBefore, long BalanceAfter,
        Guid LotId, string LotSource, Guid? ReservationId, string? FinalizationId, bool Conserved);

    private static void WriteJson(Utf8JsonWriter json, Row row)
    {
        json.WriteStartObject();
        json.WriteNumber("entry_id", row.EntryId);
        json.WriteString("timestamp", row.At.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture));
        json.WriteString("operation", Operation(row.Kind));
        json.WriteString("kind", row.Kind);
        json.WriteNumber("amount_micro", row.Amount);
        WriteStringOrNull(json, "pool", row.Pool);
        WriteStringOrNull(json, "nft", row.Nft);
        WriteStringOrNull(json, "wallet", row.Wallet);
        json.WriteNumber("balance_before_micro", row.BalanceBefore);
        json.WriteNumber("balance_after_micro", row.BalanceAfter);
        json.WriteString("lot_id", row.LotId);
        json.WriteString("lot_source", row.LotSource);
        WriteStringOrNull(json, "reservation_id", row.ReservationId?.ToString());
        WriteStringOrNull(json, "finalization_id", row.FinalizationId);
        json.WriteString("conservation", row.Conserved ? "passed" : "failed");
        json.WriteEndObject();
    }

    private static void WriteStringOrNull(Utf8JsonWriter json, string name, string? value)
    {
        if (value is null)
        {
            json.WriteNull(name);
        }
        else
        {
            json.WriteString(name, value);
        }
    }

    private static void WriteCsv(ArrayBufferWriter<byte> buffer, Row row)
    {
        var line = string.Join(',',
            row.EntryId.ToString(CultureInfo.InvariantCulture),
            row.At.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture),
            Operation(row.Kind), row.Kind, row.Amount.ToString(CultureInfo.InvariantCulture),
            Csv(row.Pool), Csv(row.Nft), Csv(row.Wallet),
            row.BalanceBefore.ToString(CultureInfo.InvariantCulture), row.BalanceAfter.ToString(CultureInfo.InvariantCulture),
            row.LotId.ToString(), row.LotSource, row.ReservationId?.ToString() ?? "", Csv(row.FinalizationId),
            row.Conserved ? "passed" : "failed") + "\n";
        buffer.Write(Encoding.UTF8.GetBytes(line));
    }

    /// <summary>RFC 4180 quoting; a leading formula character is prefixed so a spreadsheet shows it as text.</summary>
    private static string Csv(string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            return "";
        }

        if (value[0] is '=' or '+' or '-' or '@')
        {
            value = "'" + value;
        }

        return value.AsSpan().IndexOfAny(",\"\r\n") >= 0 ? "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : value;
    }

    /// <summary>EIP-55 names of the wallets seen so far; bounded, since a community has a bounded set of active wallets but an export has no row cap.</summary>
    private sealed class WalletNames
    {
        private const int Limit = 10_000;
        private readonly Dictionary<string, string?> _names = new(StringComparer.Ordinal);

        public string? Of(string? stored)
        {
            if (stored is null)
            {
                return null;
            }

            if (_names.TryGetValue(stored, out var name))
            {
                return name;
            }

            if (_names.Count >= Limit)
            {
                _names.Clear();
            }

            return _names[stored] = AdminAccess.Checksummed(stored);
        }
    }
}
