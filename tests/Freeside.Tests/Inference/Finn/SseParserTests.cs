using System.Text;
using Freeside.Features.Inference.Finn;

namespace Freeside.Tests.Inference.Finn;

public sealed class SseParserTests
{
    private const string Stream =
        "id: 0\nevent: stream_start\ndata: {\"model\":\"qwen-7b\",\"pool_id\":\"cheap\",\"personality_id\":\"p1\",\"trace_id\":\"t\",\"contract_version\":\"7.0.0\"}\n\n" +
        "id: 1\nevent: chunk\ndata: {\"delta\":\"héllo\"}\n\n" +
        "id: 2\nevent: chunk\ndata: {\"delta\":\" wörld\"}\n\n" +
        "id: 3\nevent: usage\ndata: {\"prompt_tokens\":5,\"completion_tokens\":2}\n\n" +
        "id: 4\nevent: stream_end\ndata: {\"finish_reason\":\"stop\",\"billing_method\":\"provider_reported\",\"cost_micro\":\"42\"}\n\n";

    private static List<FinnEvent> Run(IEnumerable<byte[]> reads)
    {
        var parser = new SseParser();
        var sequencer = new FinnEventSequencer();
        var events = new List<FinnEvent>();
        foreach (var read in reads)
        {
            events.AddRange(parser.Feed(read).Select(sequencer.Next));
        }

        return events;
    }

    private static string Frame(long id, string name, string data) => $"id: {id}\nevent: {name}\ndata: {data}\n\n";

    private const string Start = "{\"model\":\"m\",\"pool_id\":\"cheap\",\"personality_id\":\"p\",\"trace_id\":\"t\",\"contract_version\":\"7.0.0\"}";

    [Fact]
    public void Feed_WholeStreamAtOnce_YieldsEventsInOrder()
    {
        var events = Run([Encoding.UTF8.GetBytes(Stream)]);

        events.Count.ShouldBe(5);
        events[0].ShouldBeOfType<FinnStarted>().PoolId.ShouldBe("cheap");
        string.Concat(events.OfType<FinnChunk>().Select(c => c.Delta)).ShouldBe("héllo wörld");
        events[3].ShouldBe(new FinnUsage(5, 2));
        events[4].ShouldBe(new FinnEnded("stop", "provider_reported", 42));
    }

    [Fact]
    public void Feed_EverySplitPoint_YieldsTheSameEvents()
    {
        var bytes = Encoding.UTF8.GetBytes(Stream);
        var whole = Run([bytes]);

        // Splits land inside UTF-8 sequences, inside "\n\n", and inside field names.
        for (var cut = 1; cut < bytes.Length; cut++)
        {
            Run([bytes[..cut], bytes[cut..]]).ShouldBe(whole, $"split at byte {cut}");
        }

        Run(bytes.Select(b => new[] { b })).ShouldBe(whole, "one byte per read");
    }

    [Fact]
    public void Feed_CrLfLineEndings_AreFrames()
    {
        var events = Run([Encoding.UTF8.GetBytes("id: 0\r\nevent: stream_start\r\ndata: " + Start + "\r\n\r\n")]);

        events.Single().ShouldBeOfType<FinnStarted>();
    }

    [Fact]
    public void Feed_FrameOver64KbWithoutEnd_IsRefused()
    {
        var parser = new SseParser();
        var huge = Encoding.UTF8.GetBytes("id: 1\nevent: chunk\ndata: {\"delta\":\"" + new string('a', SseParser.MaxFrameBytes) + "\"}");

        Should.Throw<FinnProtocolException>(() =>
        {
            for (var i = 0; i < huge.Length; i += 1000)
            {
                parser.Feed(huge.AsSpan(i, Math.Min(1000, huge.Length - i)));
            }
        }).Message.ShouldContain("64");
    }

    [Fact]
    public void Feed_CompleteFrameOver64Kb_IsRefused()
    {
        var frame = Encoding.UTF8.GetBytes(Frame(1, "chunk", "{\"delta\":\"" + new string('a', SseParser.MaxFrameBytes) + "\"}"));

        Should.Throw<FinnProtocolException>(() => new SseParser().Feed(frame));
    }

    [Fact]
    public void Feed_FrameJustUnder64Kb_IsAccepted()
    {
        var data = "{\"delta\":\"" + new string('a', SseParser.MaxFrameBytes - 40) + "\"}";
        var frame = Encoding.UTF8.GetBytes(Frame(1, "chunk", data));
        frame.Length.ShouldBeLessThanOrEqualTo(SseParser.MaxFrameBytes + 2);

        new SseParser().Feed(frame).Single().Data.ShouldBe(data);
    }

    [Theory]
    [InlineData("chunk-before-start")]
    [InlineData("end-without-usage")]
    [InlineData("event-after-end")]
    [InlineData("second-start")]
    [InlineData("skipped-id")]
    [InlineData("unknown-event")]
    [InlineData("cost-not-digits")]
    public void Next_OutOfOrderOrMalformed_IsRefused(string case_)
    {
        var usage = "{\"prompt_tokens\":1,\"completion_tokens\":1}";
        var end = "{\"finish_reason\":\"stop\",\"billing_method\":\"provider_reported\",\"cost_micro\":\"1\"}";
        var stream = case_ switch
        {
            "chunk-before-start" => Frame(0, "chunk", "{\"delta\":\"x\"}"),
            "end-without-usage" => Frame(0, "stream_start", Start) + Frame(1, "stream_end", end),
            "event-after-end" => Frame(0, "stream_start", Start) + Frame(1, "usage", usage) + Frame(2, "stream_end", end) + Frame(3, "chunk", "{\"delta\":\"x\"}"),
            "second-start" => Frame(0, "stream_start", Start) + Frame(1, "stream_start", Start),
            "skipped-id" => Frame(0, "stream_start", Start) + Frame(2, "chunk", "{\"delta\":\"x\"}"),
            "unknown-event" => Frame(0, "stream_start", Start) + Frame(1, "surprise", "{}"),
            _ => Frame(0, "stream_start", Start) + Frame(1, "usage", usage) + Frame(2, "stream_end", end.Replace("\"1\"", "\"1.5\"", StringComparison.Ordinal)),
        };

        Should.Throw<FinnProtocolException>(() => Run([Encoding.UTF8.GetBytes(stream)]));
    }

    [Fact]
    public void Next_ErrorEvent_EndsTheStream()
    {
        var events = Run([Encoding.UTF8.GetBytes(Frame(0, "stream_start", Start) + Frame(1, "chunk", "{\"delta\":\"x\"}")
            + Frame(2, "error", "{\"code\":\"PROVIDER_UNAVAILABLE\",\"message\":\"gone\",\"retryable\":true}"))]);

        events[^1].ShouldBe(new FinnFailed("PROVIDER_UNAVAILABLE", "gone", true));
    }

    [Theory]
    [InlineData("7.0.0", true)]
    [InlineData("7.12.3", true)]
    [InlineData("8.0.0", false)]
    [InlineData("6.9.9", false)]
    [InlineData("", false)]
    [InlineData("seven", false)]
    public void IsCompatible_MajorVersion_OnlySeven(string version, bool expected) =>
        FinnClient.IsCompatible(version).ShouldBe(expected);
}
