using Freeside.Features.Inference;

namespace Freeside.Tests.Inference;

public sealed class AntiNarrationFilterTests
{
    private static string Stream(IEnumerable<string> chunks, out int hits)
    {
        var filter = new AntiNarrationFilter();
        var text = string.Concat(chunks.Select(filter.Push)) + filter.Flush();
        hits = filter.Hits;
        return text;
    }

    [Theory]
    [InlineData("I am a Milady at heart", "I am a […] at heart")]
    [InlineData("my ARCHETYPE is secret", "my […] is secret")]
    [InlineData("chicago_detroit and chicago detroit and Chicago-Detroit", "[…] and […] and […]")]
    [InlineData("persona.", "[…].")]
    public void Clean_Terms_AreReplacedCaseInsensitively(string text, string expected)
    {
        AntiNarrationFilter.Clean(text, out var hits).ShouldBe(expected);
        hits.ShouldBeGreaterThan(0);
    }

    [Theory]
    [InlineData("coding in odinson style")]
    [InlineData("personal entityless vessels")]
    [InlineData("the quiet signal drifts across warm circuits")]
    public void Clean_PartsOfOtherWords_AreKept(string text)
    {
        AntiNarrationFilter.Clean(text, out var hits).ShouldBe(text);
        hits.ShouldBe(0);
    }

    [Fact]
    public void Push_TermSplitAcrossChunks_IsStillReplaced()
    {
        var text = "well, my arche" + "type says I am freetek" + "no, a true acid" + " house " + "vess" + "el";
        var expected = AntiNarrationFilter.Clean(text, out var wholeHits);

        // Every way of cutting the text into two, and one character at a time.
        for (var cut = 1; cut < text.Length; cut++)
        {
            Stream([text[..cut], text[cut..]], out var hits).ShouldBe(expected, $"cut at {cut}");
            hits.ShouldBe(wholeHits);
        }

        Stream(text.Select(c => c.ToString()), out var perChar).ShouldBe(expected);
        perChar.ShouldBe(4);
    }

    [Fact]
    public void Push_TextThatCannotBeginATerm_IsSentAtOnce()
    {
        var filter = new AntiNarrationFilter();

        // The first token is not held back behind a term-length window (it would add to time to first token).
        filter.Push("the").ShouldBe("the");
        filter.Push(" quiet").ShouldBe(" quiet");
        // "signal" may still become "signal snapshot": held until the next chunk decides.
        filter.Push(" signal").ShouldBe(" ");
        filter.Push(" drifts").ShouldBe("signal drifts");
        filter.Push(" to a Chicago").ShouldBe(" to a ");
        filter.Push("-Detroit").ShouldBe("");
        filter.Push(" vessel.").ShouldBe("[…] […].");
        filter.Flush().ShouldBe("");
        filter.Hits.ShouldBe(2);
    }

    [Fact]
    public void Push_RandomChunkings_GiveWhatFilteringTheWholeTextGives()
    {
        var words = new[] { "the", "signal", "snapshot", "signals", "chicago", "detroit", "acid", "house", "acidhouse", "persona", "personal",
            "odin", "odinson", "identity", "graph", "hermes", "trismegistus", "Vessel", "x", "_", "-", "  ", ".", "ada", "lovelace" };
        var random = new Random(20261124);
        for (var round = 0; round < 300; round++)
        {
            var text = string.Concat(Enumerable.Range(0, 40).Select(_ => words[random.Next(words.Length)] + (random.Next(3) == 0 ? "_" : " ")));
            var expected = AntiNarrationFilter.Clean(text, out var wholeHits);
            var chunks = new List<string>();
            for (var at = 0; at < text.Length;)
            {
                var length = Math.Min(1 + random.Next(12), text.Length - at);
                chunks.Add(text.Substring(at, length));
                at += length;
            }

            Stream(chunks, out var hits).ShouldBe(expected, text);
            hits.ShouldBe(wholeHits);
        }
    }

    [Fact]
    public void Push_CleanText_PassesThroughWhole()
    {
        var chunks = Enumerable.Range(0, 200).Select(i => $"word{i} ").ToList();

        Stream(chunks, out var hits).ShouldBe(string.Concat(chunks));
        hits.ShouldBe(0);
    }
}
