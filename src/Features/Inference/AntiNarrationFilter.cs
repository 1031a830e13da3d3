using System.Text;
using System.Text.RegularExpressions;

namespace Freeside.Features.Inference;

/// <summary>
/// The second line of defence of contracts/finn.md, "Anti-narration": internal identity terms
/// (anti-narration-terms.txt, a copy of the contract's list) never reach a user. Whole words,
/// case-insensitive, "_" read as a space. Streamed text is filtered across chunk boundaries: the tail
/// that could still be the start of a term is held back until the next chunk or the end decides it,
/// and nothing else is, so text that cannot begin a term reaches the caller without waiting.
/// </summary>
public sealed partial class AntiNarrationFilter
{
    public const string Replacement = "[…]";

    private static readonly Lazy<(Regex Pattern, string[] Terms, int Longest)> Terms = new(Load);

    private readonly StringBuilder _pending = new();

    /// <summary>How many terms this filter replaced so far.</summary>
    public int Hits { get; private set; }

    /// <summary>Filters a whole text at once (profiles, stored messages).</summary>
    public static string Clean(string text, out int hits)
    {
        var count = 0;
        var cleaned = Terms.Value.Pattern.Replace(text, _ =>
        {
            count++;
            return Replacement;
        });
        hits = count;
        return cleaned;
    }

    /// <summary>Adds a chunk; returns the text that is now safe to send (possibly empty).</summary>
    public string Push(string chunk)
    {
        _pending.Append(chunk);
        var text = _pending.ToString();
        var cut = SafeCut(text);
        if (cut == 0)
        {
            return "";
        }

        var cleaned = Terms.Value.Pattern.Replace(text[..cut], _ =>
        {
            Hits++;
            return Replacement;
        });
        _pending.Clear().Append(text, cut, text.Length - cut);
        return cleaned;
    }

    /// <summary>The held-back rest, filtered, at the end of the stream.</summary>
    public string Flush()
    {
        var rest = Clean(_pending.ToString(), out var hits);
        Hits += hits;
        _pending.Clear();
        return rest;
    }

    /// <summary>
    /// Where the text may be cut so that filtering the part before it alone finds exactly what filtering
    /// the whole stream would: before the first word whose rest of the text could still grow into a term
    /// (a match can only start at a word's start, so every later match starts there or after), and
    /// never inside a term already complete.
    /// </summary>
    private static int SafeCut(string text)
    {
        var cut = text.Length;
        for (var start = 0; start < text.Length; start++)
        {
            if (IsWordChar(text[start]) && (start == 0 || !IsWordChar(text[start - 1])) && CouldBeginTerm(text.AsSpan(start)))
            {
                cut = start;
                break;
            }
        }

        foreach (Match match in Terms.Value.Pattern.Matches(text))
        {
            if (match.Index < cut && match.Index + match.Length > cut)
            {
                return match.Index;
            }
        }

        return cut;
    }

    private static bool IsWordChar(char c) => char.IsLetterOrDigit(c);

    /// <summary>Whether the text, read as the pattern reads it (any run of space, "_" or "-" as one space), is the start of a term.</summary>
    private static bool CouldBeginTerm(ReadOnlySpan<char> text)
    {
        var (_, terms, longest) = Terms.Value;
        Span<char> folded = stackalloc char[longest + 1];
        var length = 0;
        foreach (var c in text)
        {
            var separator = char.IsWhiteSpace(c) || c == '_' || c == '-';
            if (separator && length > 0 && folded[length - 1] == ' ')
            {
                continue;
            }

            if (length == folded.Length)
            {
                return false;
            }

            folded[length++] = separator ? ' ' : char.ToLowerInvariant(c);
        }

        var prefix = folded[..length];
        foreach (var term in terms)
        {
            if (term.AsSpan().StartsWith(prefix, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    private static (Regex, string[], int) Load()
    {
        using var stream = typeof(AntiNarrationFilter).Assembly.GetManifestResourceStream("Freeside.Features.Inference.anti-narration-terms.txt")
            ?? throw new InvalidOperationException("The anti-narration term list is not embedded.");
        using var reader = new StreamReader(stream);
        var terms = reader.ReadToEnd().Split('\n')
            .Select(l => l.Trim())
            .Where(l => l.Length > 0 && !l.StartsWith('#'))
            .Select(l => l.Replace('_', ' ').ToLowerInvariant())
            .Distinct()
            .OrderByDescending(t => t.Length)
            .ToList();
        // A space in a term matches a space, an underscore or a hyphen: "chicago_detroit", "chicago detroit".
        var alternatives = terms.Select(t => string.Join(@"[\s_\-]+", t.Split(' ').Select(Regex.Escape)));
        var pattern = new Regex(@"(?<![\p{L}\p{N}])(?:" + string.Join('|', alternatives) + @")(?![\p{L}\p{N}])",
            RegexOptions.IgnoreCase | RegexOptions.CultureInvariant | RegexOptions.Compiled, TimeSpan.FromSeconds(1));
        return (pattern, [.. terms], terms.Max(t => t.Length));
    }
}
