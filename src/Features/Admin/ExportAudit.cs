using System.Buffers;
using System.Buffers.Text;
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

    // The entry kinds, read as their position here so a row does not allocate its kind (a kind not listed is read as text).
    private static readonly string[] Kinds = ["mint", "hold", "release", "charge", "expire_hold", "expire", "reverse", "clawback", "repay"];

    /// <summary>Operation names of the export for each ledger entry kind.</summary>
    public static string Operation(string kind) => kind switch
    {
        "expire_hold" or "expire" => "expiry",
        "reverse" => "reversal",
        "clawback" => "refund",
        "repay" => "debt",
        _ => kind,
    };

    // One ordered scan of the community's account's entries (index (account_id, id)); the balance is
    // carried in the process: each entry's change to its lot's available (its available_after less the
    // lot's previous entry's) added to a running sum. A lot's entries are written in lot_seq order, so id
    // order agrees with it. Sorting the whole history in PostgreSQL before the first row (a window per lot
    // and one per account) is what this replaces.
    private const string EntriesSql = """
        SELECT e.id, e.created_at, array_position(@kinds, e.kind), CASE WHEN NOT e.kind = ANY(@kinds) THEN e.kind END, e.amount, e.lot_id, e.available_after, e.reservation_id,
               u.pool_id, r.nft_id, w.wallet, r.finalization_id, u.conservation_guard_result
        FROM ledger_entries e
        LEFT JOIN credit_reservations r ON r.id = e.reservation_id
        LEFT JOIN usage_events u ON u.reservation_id = e.reservation_id
        LEFT JOIN reservation_wallets w ON w.reservation_id = e.reservation_id
        WHERE e.account_id = @account AND e.community_id = @c AND e.id > @after AND (@until::timestamptz IS NULL OR e.created_at < @until::timestamptz)
        ORDER BY e.id
        """;

    // Where a resumed export starts from: each lot's available after its last entry up to the resume point.
    private const string ResumeSql = """
        SELECT DISTINCT ON (e.lot_id) e.lot_id, e.available_after
        FROM ledger_entries e
        WHERE e.account_id = @account AND e.community_id = @c AND e.id <= @after AND (@until::timestamptz IS NULL OR e.created_at < @until::timestamptz)
        ORDER BY e.lot_id, e.id DESC
        """;

    // The community's lots: their source, and the payer of a purchase (shown on entries made without a reservation).
    private const string LotsSql = """
        SELECT l.id, l.source, (SELECT p.payer FROM payments p WHERE p.lot_id = l.id LIMIT 1)
        FROM credit_lots l WHERE l.community_id = @c
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
            // The rows must come in entry order as they are read: a plan that sorts would hold the whole history first.
            await db.Database.ExecuteSqlRawAsync("SET TRANSACTION READ ONLY; SET LOCAL enable_sort = off; SET LOCAL enable_hashjoin = off", cancellationToken);
            await db.EnterCommunityAsync(communityId, cancellationToken);

            var account = (await AdminAccess.ListAsync(db, communityId,
                "SELECT id FROM credit_accounts WHERE community_id = @c AND kind = 'community'", r => r.GetGuid(0), cancellationToken)).FirstOrDefault();
            var lots = new Dictionary<Guid, LotState>();
            foreach (var (id, source, payer) in await AdminAccess.ListAsync(db, communityId, LotsSql,
                r => (r.GetGuid(0), r.GetString(1), r.IsDBNull(2) ? null : r.GetString(2)), cancellationToken))
            {
                lots[id] = new LotState(string.Intern(source), AdminAccess.Checksummed(payer));
            }

            long balance = 0;
            if (after > 0)
            {
                await using var resume = Entries(ResumeSql, communityId, account, after, until);
                await using var last = await resume.ExecuteReaderAsync(cancellationToken);
                while (await last.ReadAsync(cancellationToken))
                {
                    var available = last.GetInt64(1);
                    lots[last.GetGuid(0)].Available = available;
                    balance += available;
                }
            }

            await using var command = Entries(EntriesSql, communityId, account, after, until);
            await using var reader = await command.ExecuteReaderAsync(System.Data.CommandBehavior.SequentialAccess, cancellationToken);
            var rows = new RowWriter(format, 64 * 1024);
            var sinceTime = since is { } from ? new DateTime(from.UtcTicks - from.UtcTicks % 10, DateTimeKind.Utc) : DateTime.MinValue; // PostgreSQL compares whole microseconds
            while (await reader.ReadAsync(cancellationToken))
            {
                var row = new Row
                {
                    EntryId = reader.GetInt64(0),
                    At = reader.GetFieldValue<DateTime>(1),
                    Kind = reader.IsDBNull(2) ? reader.GetString(3) : Kinds[reader.GetInt32(2) - 1],
                    Amount = reader.GetInt64(4),
                    LotId = reader.GetGuid(5),
                };
                var lot = lots[row.LotId];
                var availableAfter = reader.GetInt64(6);
                var delta = availableAfter - lot.Available;
                lot.Available = availableAfter;
                row.BalanceBefore = balance;
                balance += delta;
                row.BalanceAfter = balance;
                row.LotSource = lot.Source;
                if (!reader.IsDBNull(7))
                {
                    row.ReservationId = reader.GetGuid(7);
                    row.Pool = reader.IsDBNull(8) ? null : reader.GetString(8);
                    row.Nft = reader.IsDBNull(9) ? null : reader.GetString(9);
                    row.Wallet = reader.IsDBNull(10) ? null : rows.Wallet(reader.GetString(10));
                    row.FinalizationId = reader.IsDBNull(11) ? null : reader.GetString(11);
                    row.Conserved = reader.IsDBNull(12) || reader.GetBoolean(12);
                }
                else
                {
                    row.Wallet = lot.Payer;
                    row.Conserved = true;
                }

                // Rows before `since` are read (they move the balance) but not written.
                if (row.At >= sinceTime)
                {
                    rows.Write(in row);
                    if (rows.Buffered >= 48 * 1024)
                    {
                        await output.WriteAsync(rows.Flush(), cancellationToken);
                    }
                }
            }

            await output.WriteAsync(rows.Flush(), cancellationToken);
            await output.FlushAsync(cancellationToken);
        }

        private NpgsqlCommand Entries(string sql, Guid communityId, Guid account, long after, DateTimeOffset? until)
        {
            var command = AdminAccess.Command(db, sql, communityId);
            command.Parameters.AddWithValue("account", account);
            command.Parameters.AddWithValue("after", after);
            command.Parameters.AddWithValue("kinds", Kinds);
            command.Parameters.Add(new NpgsqlParameter<DateTimeOffset?>("until", until) { NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.TimestampTz });
            return command;
        }
    }

    private sealed class LotState(string source, string? payer)
    {
        public string Source { get; } = source;

        /// <summary>EIP-55 payer of a purchase lot, when it is an address.</summary>
        public string? Payer { get; } = payer;

        /// <summary>The lot's available after the last entry read.</summary>
        public long Available { get; set; }
    }

    private struct Row
    {
        public long EntryId;
        public DateTime At;
        public string Kind;
        public long Amount;
        public string? Pool;
        public string? Nft;
        public string? Wallet;
        public long BalanceBefore;
        public long BalanceAfter;
        public Guid LotId;
        public string LotSource;
        public Guid? ReservationId;
        public string? FinalizationId;
        public bool Conserved;
    }

    /// <summary>
    /// Serializes rows into one buffer that the caller flushes to the response as it fills: numbers, times
    /// and ids are formatted straight into it as UTF-8, so a row allocates nothing beyond the strings the
    /// reader returns.
    /// </summary>
    private sealed class RowWriter
    {
        private const string TimeFormat = "yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'";
        private static readonly JsonEncodedText EntryIdName = JsonEncodedText.Encode("entry_id");
        private static readonly JsonEncodedText TimestampName = JsonEncodedText.Encode("timestamp");
        private static readonly JsonEncodedText OperationName = JsonEncodedText.Encode("operation");
        private static readonly JsonEncodedText KindName = JsonEncodedText.Encode("kind");
        private static readonly JsonEncodedText AmountName = JsonEncodedText.Encode("amount_micro");
        private static readonly JsonEncodedText PoolName = JsonEncodedText.Encode("pool");
        private static readonly JsonEncodedText NftName = JsonEncodedText.Encode("nft");
        private static readonly JsonEncodedText WalletName = JsonEncodedText.Encode("wallet");
        private static readonly JsonEncodedText BeforeName = JsonEncodedText.Encode("balance_before_micro");
        private static readonly JsonEncodedText AfterName = JsonEncodedText.Encode("balance_after_micro");
        private static readonly JsonEncodedText LotIdName = JsonEncodedText.Encode("lot_id");
        private static readonly JsonEncodedText LotSourceName = JsonEncodedText.Encode("lot_source");
        private static readonly JsonEncodedText ReservationIdName = JsonEncodedText.Encode("reservation_id");
        private static readonly JsonEncodedText FinalizationIdName = JsonEncodedText.Encode("finalization_id");
        private static readonly JsonEncodedText ConservationName = JsonEncodedText.Encode("conservation");
        private static readonly JsonEncodedText Passed = JsonEncodedText.Encode("passed");
        private static readonly JsonEncodedText Failed = JsonEncodedText.Encode("failed");

        private readonly bool _csv;
        private readonly ArrayBufferWriter<byte> _buffer;
        private readonly Utf8JsonWriter _json;
        private readonly WalletNames _wallets = new();

        public RowWriter(string format, int capacity)
        {
            _csv = format == "csv";
            _buffer = new ArrayBufferWriter<byte>(capacity);
            _json = new Utf8JsonWriter(_buffer, new JsonWriterOptions { SkipValidation = true });
            if (_csv)
            {
                Utf8(string.Join(',', Columns));
                _buffer.Write("\n"u8);
            }
        }

        public int Buffered => _buffer.WrittenCount;

        /// <summary>The EIP-55 name of a stored (lower-case) wallet.</summary>
        public string? Wallet(string stored) => _wallets.Of(stored);

        /// <summary>What is buffered; valid until the next row is written, so the caller writes it out first.</summary>
        public ReadOnlyMemory<byte> Flush()
        {
            var written = _buffer.WrittenMemory;
            _buffer.ResetWrittenCount();
            return written;
        }

        public void Write(in Row row)
        {
            if (_csv)
            {
                WriteCsv(in row);
            }
            else
            {
                WriteJson(in row);
            }
        }

        private void WriteJson(in Row row)
        {
            Span<byte> time = stackalloc byte[32];
            var json = _json;
            json.WriteStartObject();
            json.WriteNumber(EntryIdName, row.EntryId);
            json.WriteString(TimestampName, Time(row.At, time));
            json.WriteString(OperationName, Operation(row.Kind));
            json.WriteString(KindName, row.Kind);
            json.WriteNumber(AmountName, row.Amount);
            WriteStringOrNull(PoolName, row.Pool);
            WriteStringOrNull(NftName, row.Nft);
            WriteStringOrNull(WalletName, row.Wallet);
            json.WriteNumber(BeforeName, row.BalanceBefore);
            json.WriteNumber(AfterName, row.BalanceAfter);
            json.WriteString(LotIdName, row.LotId);
            json.WriteString(LotSourceName, row.LotSource);
            if (row.ReservationId is { } reservation)
            {
                json.WriteString(ReservationIdName, reservation);
            }
            else
            {
                json.WriteNull(ReservationIdName);
            }

            WriteStringOrNull(FinalizationIdName, row.FinalizationId);
            json.WriteString(ConservationName, row.Conserved ? Passed : Failed);
            json.WriteEndObject();
            json.Flush();
            json.Reset();
            _buffer.Write("\n"u8);
        }

        private void WriteStringOrNull(JsonEncodedText name, string? value)
        {
            if (value is null)
            {
                _json.WriteNull(name);
            }
            else
            {
                _json.WriteString(name, value);
            }
        }

        private void WriteCsv(in Row row)
        {
            Span<byte> time = stackalloc byte[32];
            Number(row.EntryId);
            Comma();
            _buffer.Write(Time(row.At, time));
            Comma();
            Utf8(Operation(row.Kind));
            Comma();
            Utf8(row.Kind);
            Comma();
            Number(row.Amount);
            Comma();
            Cell(row.Pool);
            Comma();
            Cell(row.Nft);
            Comma();
            Cell(row.Wallet);
            Comma();
            Number(row.BalanceBefore);
            Comma();
            Number(row.BalanceAfter);
            Comma();
            Id(row.LotId);
            Comma();
            Utf8(row.LotSource);
            Comma();
            if (row.ReservationId is { } reservation)
            {
                Id(reservation);
            }

            Comma();
            Cell(row.FinalizationId);
            Comma();
            _buffer.Write(row.Conserved ? "passed"u8 : "failed"u8);
            _buffer.Write("\n"u8);
        }

        private static ReadOnlySpan<byte> Time(DateTime at, Span<byte> into)
        {
            at.TryFormat(into, out var written, TimeFormat, CultureInfo.InvariantCulture);
            return into[..written];
        }

        private void Comma() => _buffer.Write(","u8);

        private void Number(long value)
        {
            Utf8Formatter.TryFormat(value, _buffer.GetSpan(20), out var written);
            _buffer.Advance(written);
        }

        private void Id(Guid value)
        {
            Utf8Formatter.TryFormat(value, _buffer.GetSpan(36), out var written);
            _buffer.Advance(written);
        }

        private void Utf8(ReadOnlySpan<char> text) =>
            _buffer.Advance(Encoding.UTF8.GetBytes(text, _buffer.GetSpan(Encoding.UTF8.GetMaxByteCount(text.Length))));

        /// <summary>RFC 4180 quoting; a leading formula character is prefixed so a spreadsheet shows it as text.</summary>
        private void Cell(string? value)
        {
            if (string.IsNullOrEmpty(value))
            {
                return;
            }

            var quoted = value.AsSpan().IndexOfAny(",\"\r\n") >= 0;
            if (quoted)
            {
                _buffer.Write("\""u8);
            }

            if (value[0] is '=' or '+' or '-' or '@')
            {
                _buffer.Write("'"u8);
            }

            if (quoted)
            {
                Utf8(value.Replace("\"", "\"\"", StringComparison.Ordinal));
                _buffer.Write("\""u8);
            }
            else
            {
                Utf8(value);
            }
        }
    }

    /// <summary>EIP-55 names of the wallets seen so far; bounded, since a community has a bounded set of active wallets but an export has no row cap.</summary>
    private sealed class WalletNames
    {
        private const int Limit = 10_000;
        private readonly Dictionary<string, string?> _names = new(StringComparer.Ordinal);

        public string? Of(string stored)
        {
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
