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
    public void Push_CleanText_PassesThroughWhole()
    {
        var chunks = Enumerable.Range(0, 200).Select(i => $"word{i} ").ToList();

        Stream(chunks, out var hits).ShouldBe(string.Concat(chunks));
        hits.ShouldBe(0);
    }
}
