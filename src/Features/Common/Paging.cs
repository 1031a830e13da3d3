using System.Buffers.Text;
using System.Text;
using FluentValidation;

namespace Freeside.Features.Common;

/// <summary>
/// Lists answer one page at a time: <c>limit</c> (1–100, default 50) and an opaque <c>cursor</c>
/// taken from the previous page's <c>next_cursor</c> (null on the last page). A cursor is the
/// position after the last item (keyset, so inserts never shift a page), tagged with the list it
/// belongs to; clients must not build or parse one.
/// </summary>
public static class Paging
{
    public const int DefaultLimit = 50;
    public const int MaxLimit = 100;

    public static int LimitOrDefault(int? limit) => limit ?? DefaultLimit;

    public static string Encode(string list, string position) =>
        Base64Url.EncodeToString(Encoding.UTF8.GetBytes($"{list}|{position}"));

    /// <summary>The position inside <paramref name="cursor"/>, or null when it is absent, malformed or from another list.</summary>
    public static bool TryDecode(string? cursor, string list, out string position)
    {
        position = "";
        if (cursor is null || cursor.Length > 512)
        {
            return false;
        }

        var bytes = new byte[Base64Url.GetMaxDecodedLength(cursor.Length)];
        if (Base64Url.DecodeFromChars(cursor, bytes, out _, out var written) != System.Buffers.OperationStatus.Done)
        {
            return false;
        }

        string text;
        try
        {
            text = new UTF8Encoding(false, true).GetString(bytes, 0, written);
        }
        catch (DecoderFallbackException)
        {
            return false;
        }

        var prefix = list + "|";
        if (!text.StartsWith(prefix, StringComparison.Ordinal))
        {
            return false;
        }

        position = text[prefix.Length..];
        return true;
    }

    /// <summary>The shared rules for a request's <c>limit</c> and <c>cursor</c>.</summary>
    public static void PageRules<T>(this AbstractValidator<T> validator, Func<T, int?> limit, Func<T, string?> cursor, Func<string, bool> cursorIsValid)
    {
        validator.RuleFor(r => limit(r)).InclusiveBetween(1, MaxLimit).OverridePropertyName("limit")
            .WithMessage($"limit must be from 1 to {MaxLimit}.");
        validator.RuleFor(r => cursor(r)).Must(c => c is null || cursorIsValid(c)).OverridePropertyName("cursor")
            .WithMessage("cursor is not a cursor of this list; pass next_cursor from the previous page unchanged.");
    }
}

/// <summary>One page of a list; <see cref="NextCursor"/> is null on the last page.</summary>
public sealed record Page<T>(IReadOnlyList<T> Items, string? NextCursor);
