namespace Freeside.Features.Common.Ethereum;

/// <summary>
/// RFC 3339 date-time: full-date "T" partial-time [secfrac] time-offset, with the calendar checked
/// (2022-02-31 is refused). Year 0000 and leap second 60 are grammatical but not representable by
/// <see cref="DateTimeOffset"/>, so they are refused too.
/// </summary>
internal static class Rfc3339
{
    private static readonly TimeSpan MaxOffset = TimeSpan.FromHours(14);

    public static bool TryParse(ReadOnlySpan<char> text, out DateTimeOffset value)
    {
        value = default;

        // yyyy-MM-ddTHH:mm:ss is 19 characters; at least "Z" follows.
        if (text.Length < 20
            || !TryDigits(text[..4], out var year)
            || text[4] != '-' || !TryDigits(text.Slice(5, 2), out var month)
            || text[7] != '-' || !TryDigits(text.Slice(8, 2), out var day)
            || text[10] is not ('T' or 't')
            || !TryDigits(text.Slice(11, 2), out var hour)
            || text[13] != ':' || !TryDigits(text.Slice(14, 2), out var minute)
            || text[16] != ':' || !TryDigits(text.Slice(17, 2), out var second))
        {
            return false;
        }

        if (year < 1 || month is < 1 or > 12 || day < 1 || day > DateTime.DaysInMonth(year, month)
            || hour > 23 || minute > 59 || second > 59)
        {
            return false;
        }

        var rest = text[19..];
        long fractionTicks = 0;
        if (rest[0] == '.')
        {
            var digits = 1;
            while (digits < rest.Length && char.IsAsciiDigit(rest[digits]))
            {
                digits++;
            }

            if (digits == 1)
            {
                return false;
            }

            // Ticks are 100 ns: the first seven fractional digits count, the rest are truncated.
            var scale = TimeSpan.TicksPerSecond / 10;
            for (var i = 1; i < digits && scale > 0; i++, scale /= 10)
            {
                fractionTicks += (rest[i] - '0') * scale;
            }

            rest = rest[digits..];
        }

        TimeSpan offset;
        if (rest is ['Z' or 'z'])
        {
            offset = TimeSpan.Zero;
        }
        else if (rest.Length == 6 && rest[0] is '+' or '-' && rest[3] == ':'
            && TryDigits(rest.Slice(1, 2), out var offsetHours) && offsetHours <= 23
            && TryDigits(rest.Slice(4, 2), out var offsetMinutes) && offsetMinutes <= 59)
        {
            offset = new TimeSpan(offsetHours, offsetMinutes, 0);
            if (rest[0] == '-')
            {
                offset = -offset;
            }
        }
        else
        {
            return false;
        }

        var localTicks = new DateTime(year, month, day, hour, minute, second, DateTimeKind.Unspecified).Ticks + fractionTicks;
        var utcTicks = localTicks - offset.Ticks;
        if (utcTicks < DateTime.MinValue.Ticks || utcTicks > DateTime.MaxValue.Ticks)
        {
            return false;
        }

        // DateTimeOffset keeps offsets up to 14 h; RFC 3339 allows 23:59, so larger ones become UTC.
        value = offset.Duration() <= MaxOffset
            ? new DateTimeOffset(localTicks, offset)
            : new DateTimeOffset(utcTicks, TimeSpan.Zero);
        return true;
    }

    private static bool TryDigits(ReadOnlySpan<char> text, out int value)
    {
        value = 0;
        foreach (var c in text)
        {
            if (!char.IsAsciiDigit(c))
            {
                return false;
            }

            value = (value * 10) + (c - '0');
        }

        return true;
    }
}
